#pragma once
// Turns a user id into a PostgreSQL channel name, refusing ids that could address
// someone else's channel: empty, not matching the configured pattern, or long
// enough that PostgreSQL would silently truncate the channel name (63 bytes).
// Thread rule: immutable after construction; name() is safe from any thread.
#include <regex>
#include <string>
#include <string_view>

namespace gw {

// PostgreSQL's NAMEDATALEN - 1: longer identifiers are truncated without error.
inline constexpr std::size_t max_channel_bytes = 63;

class channel_namer {
public:
    struct result {
        std::string channel;      // set when ok
        std::string_view reason;  // "empty", "pattern", "too_long" when refused
        bool ok() const { return reason.empty(); }
    };

    // Throws config_error when the template lacks "{user}" or the pattern is not a
    // valid ECMAScript regular expression.
    channel_namer(std::string channel_template, const std::string& user_pattern);

    result name(std::string_view user) const;

private:
    std::string prefix_;
    std::string suffix_;
    std::regex pattern_;
    // The default pattern, ^[0-9]{1,20}$, checked without the regex engine: in
    // shared channel mode name() runs for every NOTIFY.
    bool default_pattern_ = false;
};

}  // namespace gw
