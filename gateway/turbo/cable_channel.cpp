#include "turbo/cable_channel.hpp"

#include "channel_namer.hpp"
#include "hex.hpp"

#include <openssl/sha.h>

#include <array>

namespace gw::turbo {

namespace {

// Ruby's String#size of UTF-8 text: every byte but the continuation bytes (10xxxxxx).
std::size_t characters(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

}  // namespace

std::string cable_channel(const std::optional<std::string>& prefix, std::string_view broadcasting) {
    std::string channel = prefix ? *prefix + ":" : std::string();
    channel += broadcasting;
    if (characters(channel) > max_channel_bytes) {
        std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
        SHA1(reinterpret_cast<const unsigned char*>(channel.data()), channel.size(), digest.data());
        return to_hex(digest.data(), digest.size());
    }
    // At most 63 characters but more bytes: PostgreSQL cuts the NOTIFY's identifier
    // to 63 bytes, back to the start of a character cut in two (truncate_identifier).
    if (channel.size() > max_channel_bytes) {
        std::size_t end = max_channel_bytes;
        while (end > 0 && (static_cast<unsigned char>(channel[end]) & 0xC0) == 0x80) --end;
        channel.resize(end);
    }
    return channel;
}

}  // namespace gw::turbo
