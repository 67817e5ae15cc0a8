#include "config_file.hpp"

#include "config.hpp"

#include <toml++/toml.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gw {

namespace {

// A config file is a few KiB; anything larger is a mistake (or /dev/zero).
constexpr std::size_t max_config_bytes = 1 << 20;

// Opened without blocking (a FIFO would hang start-up) and read only if it is a
// regular file of a sane size.
std::string read_small_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw config_error("--config: cannot read " + path + ": " + std::strerror(errno));
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
    if (!regular) throw config_error("--config: " + path + " is not a regular file");
    if (static_cast<std::size_t>(st.st_size) > max_config_bytes)
        throw config_error("--config: " + path + " is larger than 1 MiB");
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

}  // namespace

config_file read_config_file(const std::string& path) {
    return parse_config_text(read_small_file(path), path);
}

config_file parse_config_text(std::string_view text, const std::string& path) {
    toml::table root;
    try {
        root = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
        std::string why(e.description());
        std::replace(why.begin(), why.end(), '\n', ' ');
        throw config_error(where(path, e.source()) + ": not TOML: " + why);
    }
    config_file out{path, {}};
    for (const auto& [k, node] : root) {
        const std::string key(k.str());
        out.values.push_back({key, value_text(path, key, node), node.source().begin.line});
    }
    // toml::table iterates by key; file order makes the first error the first line.
    std::stable_sort(out.values.begin(), out.values.end(),
                     [](const file_value& a, const file_value& b) { return a.line < b.line; });
    return out;
}

}  // namespace gw
