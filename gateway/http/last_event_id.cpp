#include "http/last_event_id.hpp"

#include <charconv>

namespace gw::web {

std::optional<std::uint64_t> own_sequence(std::string_view id, std::string_view boot) {
    if (id.size() <= boot.size() + 1 || id.substr(0, boot.size()) != boot || id[boot.size()] != '-')
        return std::nullopt;
    std::uint64_t seq = 0;
    const auto digits = id.substr(boot.size() + 1);
    const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
    if (ec != std::errc{} || p != digits.data() + digits.size()) return std::nullopt;
    return seq;
}

}  // namespace gw::web
