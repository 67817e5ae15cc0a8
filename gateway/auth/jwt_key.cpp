#include "auth/jwt_key.hpp"

#include "auth/openssl_ptr.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <array>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gw::auth {

namespace {

constexpr std::size_t hs256_size = 32;
constexpr std::size_t es256_half = 32;
constexpr int min_rsa_bits = 2048;
// Past this a verification costs more than any signer needs (RFC 7518 asks only for
// 2048; 8192 is what OpenSSL's own bounds allow for fast exponents).
constexpr int max_rsa_bits = 8192;
// RFC 7518 practice is 65537. Below 3 a signature is its own message (e = 1: anyone
// signs anything); an even one is no RSA key; past 32 bits each verification does
// work the attacker chooses (OpenSSL bounds it only over 3072-bit moduli).
constexpr int max_rsa_exponent_bits = 32;

// Why an RSA public key is unsound for RS256, or empty.
std::string rsa_unsound(const EVP_PKEY* pkey) {
    const int bits = EVP_PKEY_get_bits(pkey);
    if (bits < min_rsa_bits) return "RS256 public key is shorter than 2048 bits";
    if (bits > max_rsa_bits) return "RS256 public key is longer than 8192 bits";
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &raw) != 1) return "RS256 public key has no exponent";
    const bignum_ptr e(raw);
    if (!BN_is_odd(e.get()) || BN_num_bits(e.get()) < 2 || BN_num_bits(e.get()) > max_rsa_exponent_bits)
        return "RS256 public key's exponent is not odd, at least 3 and below 2^32";
    return {};
}

// What PEM_read_bio hands out, freed with OPENSSL_free.
struct pem_block {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    ~pem_block() {
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }
};

// The public key of one PEM block; nullptr for a block of another kind or one
// that does not parse.
EVP_PKEY* public_key_of(const pem_block& b) {
    const unsigned char* p = b.data;
    if (std::strcmp(b.name, PEM_STRING_PUBLIC) == 0) return d2i_PUBKEY(nullptr, &p, b.len);
    if (std::strcmp(b.name, PEM_STRING_RSA_PUBLIC) == 0) return d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, b.len);
    // A certificate is accepted too: operators often have the signer's cert at hand.
    if (std::strcmp(b.name, PEM_STRING_X509) == 0 || std::strcmp(b.name, PEM_STRING_X509_OLD) == 0) {
        x509_ptr cert(d2i_X509(nullptr, &p, b.len));
        return cert ? X509_get_pubkey(cert.get()) : nullptr;
    }
    return nullptr;
}

// JWS carries an ECDSA signature as the fixed-width big-endian r and s (RFC 7518
// 3.4); OpenSSL verifies the DER SEQUENCE of two INTEGERs.
std::optional<std::string> es256_to_der(std::string_view raw) {
    if (raw.size() != 2 * es256_half) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
    ecdsa_sig_ptr sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(p, es256_half, nullptr);
    BIGNUM* s = BN_bin2bn(p + es256_half, es256_half, nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return std::nullopt;
    }
    const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (len <= 0) return std::nullopt;
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_ECDSA_SIG(sig.get(), &out) != len) return std::nullopt;
    return der;
}

}  // namespace

std::optional<jwt_alg> parse_jwt_alg(std::string_view name) {
    if (name == "HS256") return jwt_alg::hs256;
    if (name == "RS256") return jwt_alg::rs256;
    if (name == "ES256") return jwt_alg::es256;
    return std::nullopt;
}

std::string_view to_string(jwt_alg alg) {
    switch (alg) {
        case jwt_alg::hs256:
            return "HS256";
        case jwt_alg::rs256:
            return "RS256";
        case jwt_alg::es256:
            return "ES256";
    }
    return "?";
}

jwt_key jwt_key::hmac(std::string secret, std::string kid) {
    if (secret.empty()) throw std::invalid_argument("HS256 needs a non-empty secret");
    jwt_key k(jwt_alg::hs256, std::move(kid));
    k.secret_ = std::move(secret);
    return k;
}

jwt_key jwt_key::from_public_key(jwt_alg alg, EVP_PKEY* raw, std::string kid) {
    std::shared_ptr<EVP_PKEY> pkey{pkey_ptr(raw)};
    if (!pkey) throw std::invalid_argument(std::string(to_string(alg)) + " needs a public key");
    if (alg == jwt_alg::hs256) throw std::invalid_argument("HS256 takes a secret, not a public key");
    if (alg == jwt_alg::rs256) {
        if (!EVP_PKEY_is_a(pkey.get(), "RSA")) throw std::invalid_argument("RS256 needs an RSA public key");
        if (auto why = rsa_unsound(pkey.get()); !why.empty()) {
            ERR_clear_error();
            throw std::invalid_argument(why);
        }
    } else {
        std::array<char, 64> group{};
        std::size_t len = 0;
        if (!EVP_PKEY_is_a(pkey.get(), "EC") ||
            EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(), &len) !=
                1 ||
            std::string_view(group.data(), len) != "prime256v1") {
            ERR_clear_error();
            throw std::invalid_argument("ES256 needs a P-256 EC public key");
        }
    }
    jwt_key k(alg, std::move(kid));
    k.pkey_ = std::move(pkey);
    return k;
}

std::vector<jwt_key> jwt_key::from_pem(jwt_alg alg, std::string_view pem) {
    const std::string expected =
        std::string(to_string(alg)) + " needs a PEM public key (\"BEGIN PUBLIC KEY\") or certificate";
    if (alg == jwt_alg::hs256) throw std::invalid_argument("HS256 takes a secret, not a PEM key");
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) throw std::runtime_error("out of memory reading a JWT public key");
    std::vector<jwt_key> keys;
    for (;;) {
        pem_block b;
        if (PEM_read_bio(bio.get(), &b.name, &b.header, &b.data, &b.len) != 1) {
            // "No start line" is the end of the text; anything else is a damaged
            // block, which must not quietly leave the keys after it out.
            const bool end = ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE;
            ERR_clear_error();
            if (!end)
                throw std::invalid_argument(expected + "; block " + std::to_string(keys.size() + 1) + " is damaged");
            break;
        }
        EVP_PKEY* k = public_key_of(b);
        ERR_clear_error();
        if (!k) throw std::invalid_argument(expected + "; block " + std::to_string(keys.size() + 1) + " is not one");
        keys.push_back(from_public_key(alg, k, {}));
    }
    if (keys.empty()) throw std::invalid_argument(expected);
    return keys;
}

bool jwt_key::verify(std::string_view signing_input, std::string_view sig) const {
    const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
    if (alg_ == jwt_alg::hs256) {
        std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
        std::size_t mac_len = 0;
        if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret_.data(), secret_.size(), data,
                       signing_input.size(), mac.data(), mac.size(), &mac_len))
            return false;
        // The length of an HMAC is public; only its bytes need a constant-time compare.
        return mac_len == hs256_size && sig.size() == hs256_size &&
               CRYPTO_memcmp(mac.data(), sig.data(), hs256_size) == 0;
    }

    std::string der;
    std::string_view to_check = sig;
    if (alg_ == jwt_alg::es256) {
        auto converted = es256_to_der(sig);
        if (!converted) return false;
        der = std::move(*converted);
        to_check = der;
    }
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    if (!ctx) return false;
    if (EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, pkey_.get(), nullptr) != 1)
        return false;
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(to_check.data()), to_check.size(), data,
                            signing_input.size()) == 1;
}

}  // namespace gw::auth
