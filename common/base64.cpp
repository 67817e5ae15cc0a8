#include "base64.hpp"

#include <cstdint>

namespace gw {

namespace {

int value_of(char c, base64_alphabet a) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (a == base64_alphabet::url ? '-' : '+')) return 62;
    if (c == (a == base64_alphabet::url ? '_' : '/')) return 63;
    return -1;
}

}  // namespace

std::optional<std::string> base64_decode_unpadded(std::string_view text, base64_alphabet alphabet) {
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        const int v = value_of(c, alphabet);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    // Leftover bits (2 or 4) must be zero, or two strings would decode alike.
    if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

}  // namespace gw
