// The configuration parser (common/config) on hostile flags and environments.
//
// Input: '\0'-separated tokens. A token "SSE_GATEWAY_...=value" or
// "DATABASE_URL=value" is an environment variable; any other token is an argv
// element (after argv[0]).
//
// Checked: parse_config() answers with a config or a config_error, nothing else;
// an accepted config keeps the invariants the server relies on (one-line event
// name and wrap field, a stream path that is absolute and not a built-in route,
// at least one thread, non-empty auth list members); a refusal is one line; and
// each environment variable on its own means what its flag means: accepted or
// refused alike, with the same reason after the name.
#include "config.hpp"
#include "fuzz_support.hpp"
#include "sse_frame.hpp"

#include <map>
#include <string>
#include <vector>

namespace {

using gw::fuzz::as_text;

struct outcome {
    bool ok = false;
    std::string reason;  // the message without the leading "--flag" or "SSE_GATEWAY_X"
};

outcome parse(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
              std::string_view prefix) {
    std::vector<const char*> argv{"sse-gateway"};
    for (const auto& a : args) argv.push_back(a.c_str());
    auto lookup = [&](const std::string& name) -> std::optional<std::string> {
        const auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
    };
    try {
        const auto out = gw::parse_config(static_cast<int>(argv.size()), argv.data(), lookup);
        if (out.help) return {true, {}};
        const auto& c = out.cfg;
        fuzz_check(!c.event_name.empty() && gw::sse::is_single_line(c.event_name));
        fuzz_check(!c.wrap_field.empty() && gw::sse::is_single_line(c.wrap_field));
        fuzz_check(!c.stream_path.empty() && c.stream_path.front() == '/');
        fuzz_check(c.stream_path != "/healthz" && c.stream_path != "/readyz" && c.stream_path != "/metrics");
        fuzz_check(c.stream_path.find_first_of("?# \r\n") == std::string::npos);
        fuzz_check(c.threads >= 1);
        fuzz_check(c.channel_mode == gw::channel_mode::per_user || c.channel_mode == gw::channel_mode::shared);
        for (const auto& m : c.auth_modes) fuzz_check(!m.empty());
        return {true, {}};
    } catch (const gw::config_error& e) {
        std::string_view what = e.what();
        fuzz_check(!what.empty());
        fuzz_check(gw::sse::is_single_line(what));  // one line, as main() prints it
        if (!prefix.empty()) {
            fuzz_check(what.substr(0, prefix.size()) == prefix);
            what.remove_prefix(prefix.size());
        }
        return {false, std::string(what)};
    }
    // Anything else propagates: libFuzzer reports an uncaught exception as a crash.
}

// SSE_GATEWAY_MAX_CONNECTIONS -> max-connections
std::string flag_of(std::string_view env_name) {
    std::string flag;
    for (char ch : env_name.substr(12)) flag += ch == '_' ? '-' : static_cast<char>(std::tolower(ch));
    return flag;
}

void check(std::string_view input) {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::size_t pos = 0;
    while (pos <= input.size()) {
        const auto end = std::min(input.find('\0', pos), input.size());
        const std::string token(input.substr(pos, end - pos));
        pos = end + 1;
        const auto eq = token.find('=');
        if (eq != std::string::npos && (token.rfind("SSE_GATEWAY_", 0) == 0 || token.substr(0, eq) == "DATABASE_URL"))
            env[token.substr(0, eq)] = token.substr(eq + 1);
        else
            args.push_back(token);
    }
    if (args.size() == 1 && args[0].empty()) args.clear();  // no argv tokens at all
    if (args.size() > 64 || env.size() > 64) return;

    parse(args, env, {});
    std::vector<std::string> names;
    for (const auto& [name, value] : env) names.push_back(name);
    for (const auto& unknown : gw::unknown_env_names(names)) fuzz_check(unknown.rfind("SSE_GATEWAY_", 0) == 0);

    // Known variables alone, and as their flags: eight per input (each costs two
    // whole parses), starting at a place the input picks, so every one gets its turn.
    const auto unknown = gw::unknown_env_names(names);
    std::vector<std::pair<std::string, std::string>> known;
    for (const auto& [name, value] : env)
        if (name.rfind("SSE_GATEWAY_", 0) == 0 && std::find(unknown.begin(), unknown.end(), name) == unknown.end())
            known.emplace_back(name, value);
    for (std::size_t i = 0; i < std::min<std::size_t>(known.size(), 8); ++i) {
        const auto& [name, value] = known[(input.size() + i) % known.size()];
        const auto flag = flag_of(name);
        const auto by_env = parse({}, {{name, value}}, name + ": ");
        const auto by_flag = parse({"--" + flag + "=" + value}, {}, {});
        if (by_env.ok != by_flag.ok || (!by_env.ok && by_flag.reason.find(by_env.reason) == std::string::npos))
            std::fprintf(stderr, "%s: '%s'\n--%s: '%s'\n", name.c_str(), by_env.reason.c_str(), flag.c_str(),
                         by_flag.reason.c_str());
        fuzz_check(by_env.ok == by_flag.ok);
        if (!by_env.ok) {
            const std::string flag_prefix = "--" + flag + ": ";
            fuzz_check(by_flag.reason.substr(0, flag_prefix.size()) == flag_prefix);
            fuzz_check(by_env.reason == by_flag.reason.substr(flag_prefix.size()));
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 4096) return -1;
    check(as_text(data, size));
    return 0;
}
