#pragma once
// Strict base64 decoding shared by the token and cookie parsers. Pure; any thread.
#include <optional>
#include <string>
#include <string_view>

namespace gw {

enum class base64_alphabet {
    standard,  // RFC 4648 section 4: '+' and '/'
    url,       // RFC 4648 section 5: '-' and '_'
};

// Decodes base64 text without its '=' padding. Refuses any character outside the
// alphabet, a length no encoding produces, and non-zero leftover bits (so each
// byte string has exactly one accepted encoding).
std::optional<std::string> base64_decode_unpadded(std::string_view text, base64_alphabet alphabet);

}  // namespace gw
