#include "config_file.hpp"

#include "config.hpp"

// toml++ 3.3's parser asserts things hostile input can break (a table header that
// starts with a character no key starts with, found by fuzz_config_file), and in
// NDEBUG builds with clang it turns them into __builtin_assume, which would be
// undefined behaviour. Each such spot is followed by the parser's own error
// report, so here the checks are no-ops in every build: a bad file is a parse
// error. (NDEBUG is lifted around the include because it selects the assume.)
#ifdef NDEBUG
#define GW_TOML_HAD_NDEBUG
#undef NDEBUG
#endif
#define TOML_ASSERT(expr) static_cast<void>(0)
#include <toml++/toml.h>
#ifdef GW_TOML_HAD_NDEBUG
#define NDEBUG
#undef GW_TOML_HAD_NDEBUG
#endif

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace gw {

namespace {

// A config file is a few KiB; anything larger is a mistake (or /dev/zero).
constexpr std::size_t max_config_bytes = 1 << 20;

// Opened without blocking (a FIFO would hang start-up) and read only if it is a
// regular file of a sane size.
std::string read_small_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw config_error("cannot read " + path + ": " + std::strerror(errno));
    struct stat st {};
    std::string text;
    const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (regular && static_cast<std::size_t>(st.st_size) <= max_config_bytes) {
        text.resize(static_cast<std::size_t>(st.st_size));
        std::size_t got = 0;
        while (got < text.size()) {
            const auto n = ::read(fd, text.data() + got, text.size() - got);
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
        text.resize(got);
    }
    ::close(fd);
    if (!regular) throw config_error(path + " is not a regular file");
    if (static_cast<std::size_t>(st.st_size) > max_config_bytes) throw config_error(path + " is larger than 1 MiB");
    return text;
}

std::string where(const std::string& path, const toml::source_region& at) {
    return path + ":" + std::to_string(at.begin.line);
}

// One list item or scalar as the flag's text; nullopt for types no flag takes.
std::optional<std::string> scalar_text(const toml::node& n) {
    if (auto s = n.as_string()) return s->get();
    if (auto i = n.as_integer()) return std::to_string(i->get());
    if (auto b = n.as_boolean()) return std::string(b->get() ? "true" : "false");
    return std::nullopt;
}

std::string value_text(const std::string& path, const std::string& key, const toml::node& n) {
    if (auto text = scalar_text(n)) return *text;
    const auto* list = n.as_array();
    if (!list)
        throw config_error(where(path, n.source()) + ": " + key +
                           ": expected a string, a whole number, true/false or an array of them");
    std::string joined;
    for (const auto& item : *list) {
        auto text = scalar_text(item);
        if (!text || text->find(',') != std::string::npos)
            throw config_error(where(path, item.source()) + ": " + key +
                               ": list items must be strings or whole numbers without ','");
        if (!joined.empty()) joined += ',';
        joined += *text;
    }
    return joined;
}

struct text_problem {
    std::uint32_t line;
    std::string what;
};

// What TOML 1.0 forbids anywhere, checked before toml++ sees the text: control
// characters but tab and line ends, and non-ASCII bytes outside strings and
// comments (bare keys are ASCII). toml++ 3.3 reaches __builtin_unreachable() on a
// non-ASCII bare key character (`é = 1`) and asserts on a NUL in a table header,
// both found by fuzz_config_file; neither gets that far now.
// A multi-line string may end with up to two quotes of its own before its
// delimiter: `"""a""""` holds a". The run of quotes at i, at most five long.
std::size_t closing_run(std::string_view text, std::size_t i, char quote) {
    std::size_t n = 0;
    while (i + n < text.size() && text[i + n] == quote && n < 5) ++n;
    return n;
}

// toml++ parses nested arrays and inline tables recursively, a few KiB of stack
// each; a config file needs two levels.
constexpr int max_nesting = 16;

// Control characters TOML allows nowhere: all but tab and the line ends.
bool is_control(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f;
}

std::optional<text_problem> lexical_problem(std::string_view text) {
    enum class state { code, comment, basic, literal, multi_basic, multi_literal } st = state::code;
    std::uint32_t line = 1;
    // A quote opens a string only where toml++ would start reading one: after
    // `=`, `[`, `,` or `{`, at a line's start, or after a dot in a dotted key on a
    // line's key side. Elsewhere (`1"é`, `1.'é`) toml++ reads a bare token, and its
    // non-ASCII bytes are refused here. prev: the last code character that is not
    // a space; depth: open brackets and braces; value_side: a top-level `=` seen on
    // this line.
    char prev = '\n';
    int depth = 0;
    bool value_side = false;
    bool skipping = false;  // after a line-ending backslash in a multi-line string
    bool in_token = false;  // inside a bare value
    int brackets = 0;       // open brackets and braces anywhere in code, for the nesting limit
    for (std::size_t i = 0; i < text.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        const auto starts = [&](std::string_view s) { return text.substr(i, s.size()) == s; };
        if (c == '\n') ++line;
        if (is_control(text[i])) {
            char code[8];
            std::snprintf(code, sizeof code, "%02X", c);
            return text_problem{line, std::string("control character U+00") + code};
        }
        switch (st) {
            case state::code: {
                if (c >= 0x80) return text_problem{line, "a non-ASCII character outside a string or comment"};
                // Every bracket counts toward the nesting limit, inside bare values too
                // (toml++ may read `n={` there as an inline table).
                if ((c == '[' || c == '{') && ++brackets > max_nesting)
                    return text_problem{line, "arrays or tables nested deeper than " + std::to_string(max_nesting)};
                if ((c == ']' || c == '}') && brackets > 0) --brackets;
                // A bare value (a number, a date, true, or junk such as `+["é`) runs to
                // a value terminator, and toml++ reads its brackets and quotes as part
                // of it: so does this.
                if (in_token) {
                    if (std::string_view(" \t\r\n,]}#").find(static_cast<char>(c)) == std::string_view::npos) {
                        prev = static_cast<char>(c);
                        break;
                    }
                    in_token = false;
                } else if ((value_side || depth > 0) &&
                           std::string_view(" \t\r\n[]{},=\"'#").find(static_cast<char>(c)) == std::string_view::npos) {
                    in_token = true;
                    prev = static_cast<char>(c);
                    break;
                }
                const bool string_may_start = std::string_view("\n=[,{").find(prev) != std::string_view::npos ||
                                              (prev == '.' && depth == 0 && !value_side);
                if (c != ' ' && c != '\t' && c != '\r') prev = static_cast<char>(c);
                if (c == '[' || c == '{') ++depth;
                if ((c == ']' || c == '}') && depth > 0) --depth;
                if (c == '=' && depth == 0) value_side = true;
                if (c == '\n' && depth == 0) value_side = false;
                if (c == '#') {
                    st = state::comment;
                } else if ((c != '"' && c != '\'') || !string_may_start) {
                } else if (starts("\"\"\"")) {
                    st = state::multi_basic;
                    i += 2;
                } else if (starts("'''")) {
                    st = state::multi_literal;
                    i += 2;
                } else if (c == '"') {
                    st = state::basic;
                } else if (c == '\'') {
                    st = state::literal;
                }
                break;
            }
            case state::comment:
                if (c == '\n') {
                    st = state::code;
                    prev = '\n';
                    value_side = value_side && depth > 0;
                }
                break;
            case state::basic:
            case state::multi_basic:
                // toml++ asks is_whitespace() of the character after a backslash, and
                // of the first one after a line-ending backslash's run of spaces.
                if (skipping) {
                    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') break;
                    skipping = false;
                    if (c >= 0x80) return text_problem{line, "a non-ASCII character after a backslash in a string"};
                }
                if (c == '\\' && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80) {
                    return text_problem{line, "a non-ASCII character after a backslash in a string"};
                } else if (c == '\\' && st == state::multi_basic && i + 1 < text.size() &&
                           std::string_view(" \t\r\n").find(text[i + 1]) != std::string_view::npos) {
                    skipping = true;  // a line-ending backslash
                } else if (c == '\\' && i + 1 < text.size() && !is_control(text[i + 1]) && text[i + 1] != '\n' &&
                           text[i + 1] != '\r') {
                    ++i;  // an escaped quote or backslash cannot end the string
                } else if (st == state::basic && (c == '"' || c == '\n')) {
                    st = state::code;  // an unterminated string is toml++'s to report
                    if (c == '\n') prev = '\n';
                } else if (st == state::multi_basic && starts("\"\"\"")) {
                    st = state::code;
                    i += closing_run(text, i, '"') - 1;
                }
                break;
            case state::literal:
                if (c == '\'' || c == '\n') st = state::code;
                if (c == '\n') prev = '\n';
                break;
            case state::multi_literal:
                if (starts("'''")) {
                    st = state::code;
                    i += closing_run(text, i, '\'') - 1;
                }
                break;
        }
    }
    return std::nullopt;
}

// toml::table iterates by key; file order makes the first error the first line.
void by_line(std::vector<file_value>& values) {
    std::stable_sort(values.begin(), values.end(),
                     [](const file_value& a, const file_value& b) { return a.line < b.line; });
}

std::vector<file_value> table_values(const std::string& path, const toml::table& table) {
    std::vector<file_value> values;
    for (const auto& [k, node] : table) {
        const std::string key(k.str());
        if (node.is_table() || node.is_array_of_tables())
            throw config_error(where(path, node.source()) + ": route: " + key + ": expected a value, not a table");
        values.push_back({key, value_text(path, key, node), node.source().begin.line});
    }
    by_line(values);
    return values;
}

}  // namespace

config_file read_config_file(const std::string& path) {
    return parse_config_text(read_small_file(path), path);
}

config_file parse_config_text(std::string_view text, const std::string& path) {
    if (const auto problem = lexical_problem(text))
        throw config_error(path + ":" + std::to_string(problem->line) + ": not TOML: " + problem->what);
    toml::table root;
    try {
        root = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
        std::string why(e.description());
        // toml++ quotes the input in its messages: keep the message one line.
        for (char& ch : why)
            if (is_control(ch) || ch == '\n' || ch == '\r') ch = ' ';
        throw config_error(where(path, e.source()) + ": not TOML: " + why);
    }
    config_file out{path, {}, {}};
    for (const auto& [k, node] : root) {
        const std::string key(k.str());
        if (key == "route" && node.is_array_of_tables()) {
            for (const auto& table : *node.as_array())
                out.routes.push_back({table.source().begin.line, table_values(path, *table.as_table())});
            continue;
        }
        if (node.is_table())
            throw config_error(where(path, node.source()) + ": [" + key + "] is no table the gateway knows " +
                               "(routes are [[route]])");
        out.values.push_back({key, value_text(path, key, node), node.source().begin.line});
    }
    by_line(out.values);
    std::stable_sort(out.routes.begin(), out.routes.end(),
                     [](const route_table& a, const route_table& b) { return a.line < b.line; });
    return out;
}

}  // namespace gw
