#pragma once
// The logging facade: one JSON object per line on stdout, written with a single
// write() so lines from different threads never interleave. Usage:
//   log::info("stream open").str("user", u).num("sid", id);
// The line is emitted when the temporary goes out of scope. Secrets must never be
// passed in; callers log reason codes, not credentials.
// Thread rule: any thread; the level is set once at start-up.
#include "config.hpp"

#include <cstdint>
#include <memory>
#include <string_view>

namespace gw::log {

void set_level(log_level level);
bool enabled(log_level level);
log_level parse_level(std::string_view name);  // throws config_error

class line {
public:
    line(log_level level, std::string_view msg);
    ~line();
    line(const line&) = delete;
    line& operator=(const line&) = delete;

    line& str(std::string_view key, std::string_view value);
    line& num(std::string_view key, std::int64_t value);
    line& num(std::string_view key, double value);
    line& flag(std::string_view key, bool value);

private:
    struct impl;
    std::unique_ptr<impl> impl_;  // null when the level is filtered out
};

inline line debug(std::string_view msg) {
    return line(log_level::debug, msg);
}
inline line info(std::string_view msg) {
    return line(log_level::info, msg);
}
inline line warn(std::string_view msg) {
    return line(log_level::warn, msg);
}
inline line error(std::string_view msg) {
    return line(log_level::error, msg);
}

}  // namespace gw::log
