#pragma once
// Encoders the auth targets use to build credentials from fuzz input, written on
// OpenSSL directly (not on the gateway's decoders they check): base64 in both
// alphabets, percent-encoding as Rack escapes cookie values, HMAC, PBKDF2.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <string>
#include <string_view>

namespace gw::fuzz {

inline std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// RFC 4648 section 5, unpadded, as JWS writes it.
inline std::string base64url(std::string_view bytes) {
    std::string out = base64(bytes);
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

// URI.encode_www_form_component: everything but *-._0-9A-Za-z escaped, ' ' as '+'.
inline std::string www_form_escape(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '*' || c == '-' || c == '.' || c == '_') {
            out.push_back(static_cast<char>(c));
        } else if (c == ' ') {
            out.push_back('+');
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

inline std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         mac, &len);
    return {reinterpret_cast<const char*>(mac), len};
}

inline std::string pbkdf2(const EVP_MD* md, std::string_view secret, std::string_view salt, std::size_t len) {
    std::string out(len, '\0');
    PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()),
                      reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), 1000, md,
                      static_cast<int>(len), reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

inline std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

}  // namespace gw::fuzz
