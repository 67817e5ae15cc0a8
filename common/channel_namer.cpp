#include "channel_namer.hpp"

#include "config.hpp"

namespace gw {

namespace {
constexpr std::string_view placeholder = "{user}";
}

channel_namer::channel_namer(std::string channel_template, const std::string& user_pattern) {
    auto at = channel_template.find(placeholder);
    if (at == std::string::npos || channel_template.find(placeholder, at + 1) != std::string::npos)
        throw config_error("--channel-template must contain {user} exactly once");
    prefix_ = channel_template.substr(0, at);
    suffix_ = channel_template.substr(at + placeholder.size());
    if (prefix_.size() + suffix_.size() >= max_channel_bytes)
        throw config_error("--channel-template leaves no room for a user id in 63 bytes");
    default_pattern_ = user_pattern == default_user_pattern;
    try {
        pattern_ = std::regex(user_pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
        throw config_error("--user-pattern is not a valid regular expression");
    }
}

channel_namer::result channel_namer::name(std::string_view user) const {
    if (user.empty()) return {{}, "empty"};
    if (prefix_.size() + user.size() + suffix_.size() > max_channel_bytes) return {{}, "too_long"};
    // A NUL would end the identifier early inside libpq; no pattern may let one through.
    if (user.find('\0') != std::string_view::npos) return {{}, "pattern"};
    if (default_pattern_) {
        if (user.size() > 20 || user.find_first_not_of("0123456789") != std::string_view::npos) return {{}, "pattern"};
    } else if (!std::regex_match(user.begin(), user.end(), pattern_)) {
        return {{}, "pattern"};
    }
    std::string channel;
    channel.reserve(prefix_.size() + user.size() + suffix_.size());
    channel.append(prefix_).append(user).append(suffix_);
    return {std::move(channel), {}};
}

}  // namespace gw
