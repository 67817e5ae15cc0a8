#include "turbo/cable_channel.hpp"

#include "channel_namer.hpp"
#include "hex.hpp"

#include <openssl/sha.h>

#include <array>

namespace gw::turbo {

std::string cable_channel(const std::optional<std::string>& prefix, std::string_view broadcasting) {
    std::string channel = prefix ? *prefix + ":" : std::string();
    channel += broadcasting;
    if (channel.size() <= max_channel_bytes) return channel;
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<const unsigned char*>(channel.data()), channel.size(), digest.data());
    return to_hex(digest.data(), digest.size());
}

}  // namespace gw::turbo
