#pragma once
// Lowercase hex, as Ruby's hexdigest writes digests. Pure; any thread.
#include <cstddef>
#include <string>

namespace gw {

inline std::string to_hex(const unsigned char* bytes, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(2 * size);
    for (std::size_t i = 0; i < size; ++i) {
        hex.push_back(digits[bytes[i] >> 4]);
        hex.push_back(digits[bytes[i] & 0xf]);
    }
    return hex;
}

}  // namespace gw
