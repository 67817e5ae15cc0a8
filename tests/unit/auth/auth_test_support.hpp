#pragma once
// Test-only helpers that mint credentials with OpenSSL directly, for the edge
// cases independent generators will not produce (a validly signed token whose
// payload is an array, a cookie whose envelope has a bad date). Compatibility
// with real issuers is proven by the fixture tests (PyJWT, ActiveSupport), not here.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gw::auth::test {

inline std::string base64_encode(std::string_view in, bool url) {
    static constexpr char std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static constexpr char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char* a = url ? url_alphabet : std_alphabet;
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += {a[(v >> 18) & 63], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
    }
    if (in.size() - i == 1) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += {a[(v >> 18) & 63], a[(v >> 12) & 63]};
        if (!url) out += "==";
    } else if (in.size() - i == 2) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
        out += {a[(v >> 18) & 63], a[(v >> 12) & 63], a[(v >> 6) & 63]};
        if (!url) out += "=";
    }
    return out;
}

inline std::string b64url(std::string_view in) {
    return base64_encode(in, true);
}
inline std::string b64(std::string_view in) {
    return base64_encode(in, false);
}

// Percent-escapes everything outside the unreserved set, as Rack does for cookie values.
inline std::string url_escape(std::string_view in) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : in) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '*') {
            out.push_back(c);
        } else {
            out += {'%', hex[u >> 4], hex[u & 15]};
        }
    }
    return out;
}

inline std::string hmac(const char* digest, std::string_view key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    std::size_t len = 0;
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, digest, nullptr, key.data(), key.size(),
                   reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), mac.size(), &len))
        throw std::runtime_error("HMAC failed");
    return std::string(reinterpret_cast<const char*>(mac.data()), len);
}

// header and payload are JSON texts, signed exactly as given.
inline std::string hs256_token(std::string_view header, std::string_view payload, std::string_view secret) {
    const std::string input = b64url(header) + "." + b64url(payload);
    return input + "." + b64url(hmac("SHA256", secret, input));
}

struct pkey_free {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

struct key_pair {
    std::unique_ptr<EVP_PKEY, pkey_free> key;
    std::string public_pem;
};

inline key_pair make_key(bool rsa, std::size_t rsa_bits = 2048) {
    key_pair kp;
    kp.key.reset(rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", rsa_bits)
                     : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!kp.key) throw std::runtime_error("key generation failed");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), kp.key.get());
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    kp.public_pem.assign(data, static_cast<std::size_t>(n));
    return kp;
}

// RS256 or ES256 (raw r||s) over header.payload.
inline std::string pk_token(const key_pair& kp, bool es256, std::string_view header, std::string_view payload) {
    const std::string input = b64url(header) + "." + b64url(payload);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::size_t len = 0;
    if (EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, kp.key.get(), nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) !=
            1)
        throw std::runtime_error("sign init failed");
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
        throw std::runtime_error("sign failed");
    sig.resize(len);
    if (es256) {
        const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
        ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
        std::string raw(64, '\0');
        BN_bn2binpad(ECDSA_SIG_get0_r(s), reinterpret_cast<unsigned char*>(raw.data()), 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(s), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
        ECDSA_SIG_free(s);
        sig = raw;
    }
    return input + "." + b64url(sig);
}

// The public half as a JWK (RFC 7518 6.2, 6.3): {"kty":..., "kid":..., <extra>}.
// extra is JSON members to add, e.g. R"("use":"sig")", or "" for none.
inline std::string jwk(const key_pair& kp, bool rsa, std::string_view kid, std::string_view extra = "") {
    auto bn_b64 = [&](const char* name) {
        BIGNUM* bn = nullptr;
        if (EVP_PKEY_get_bn_param(kp.key.get(), name, &bn) != 1) throw std::runtime_error("no key parameter");
        std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
        BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
        BN_free(bn);
        return b64url(bytes);
    };
    std::string out = "{";
    if (rsa) {
        out += R"("kty":"RSA","n":")" + bn_b64(OSSL_PKEY_PARAM_RSA_N) + R"(","e":")" + bn_b64(OSSL_PKEY_PARAM_RSA_E) +
               "\"";
    } else {
        std::array<unsigned char, 65> point{};
        std::size_t len = 0;
        if (EVP_PKEY_get_octet_string_param(kp.key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(),
                                            point.size(), &len) != 1 ||
            len != 65)
            throw std::runtime_error("no uncompressed EC point");
        const std::string_view p(reinterpret_cast<const char*>(point.data()), len);
        out += R"("kty":"EC","crv":"P-256","x":")" + b64url(p.substr(1, 32)) + R"(","y":")" + b64url(p.substr(33, 32)) +
               "\"";
    }
    if (!kid.empty()) out += R"(,"kid":")" + std::string(kid) + "\"";
    if (!extra.empty()) out += "," + std::string(extra);
    return out + "}";
}

inline std::string pbkdf2(std::string_view secret, std::string_view salt, const EVP_MD* md, std::size_t n) {
    std::string out(n, '\0');
    PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()),
                      reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), 1000, md,
                      static_cast<int>(n), reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

// A Rails 5.2+ style cookie (ciphertext--iv--tag, each base64), URL-escaped,
// with the GCM key derived from secret_key_base with SHA1 PBKDF2.
inline std::string gcm_cookie(std::string_view secret_key_base, std::string_view plaintext) {
    const std::string key = pbkdf2(secret_key_base, "authenticated encrypted cookie", EVP_sha1(), 32);
    const std::string iv = "0123456789ab";
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    std::string ct(plaintext.size() + 16, '\0');
    int len = 0;
    int fin = 0;
    std::array<unsigned char, 16> tag{};
    EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                       reinterpret_cast<const unsigned char*>(iv.data()));
    EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(ct.data()), &len,
                      reinterpret_cast<const unsigned char*>(plaintext.data()), static_cast<int>(plaintext.size()));
    EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(ct.data()) + len, &fin);
    EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag.data());
    ct.resize(static_cast<std::size_t>(len + fin));
    const std::string raw =
        b64(ct) + "--" + b64(iv) + "--" + b64(std::string_view(reinterpret_cast<const char*>(tag.data()), tag.size()));
    return url_escape(raw);
}

}  // namespace gw::auth::test
