#include "auth/jwt_verifier.hpp"

#include "auth/json_object.hpp"
#include "base64.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

namespace gw::auth {

namespace {

constexpr std::size_t hs256_size = 32;
constexpr std::size_t es256_half = 32;

enum class parsed { ok, malformed, duplicate };

// The header and the claims: one JSON object each, no member name twice.
parsed parse_object(const std::string& text, rapidjson::Document& doc) {
    if (!parse_json(text, doc) || !doc.IsObject()) return parsed::malformed;
    return has_duplicate_names(doc) ? parsed::duplicate : parsed::ok;
}

const char* reason(parsed p) { return p == parsed::duplicate ? "duplicate_member" : "malformed"; }

enum class present { absent, ok, bad };

present numeric_date(const rapidjson::Value& obj, const char* name, double& out) {
    const auto it = obj.FindMember(name);
    if (it == obj.MemberEnd()) return present::absent;
    if (!it->value.IsNumber()) return present::bad;
    out = it->value.GetDouble();
    return present::ok;
}

bool string_equals(const rapidjson::Value& v, const std::string& s) {
    return v.IsString() && std::string_view(v.GetString(), v.GetStringLength()) == s;
}

struct md_ctx_deleter {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct bio_deleter {
    void operator()(BIO* p) const { BIO_free(p); }
};
struct x509_deleter {
    void operator()(X509* p) const { X509_free(p); }
};
struct ecdsa_sig_deleter {
    void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};

EVP_PKEY* read_public_key(const std::string& pem) {
    std::unique_ptr<BIO, bio_deleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) throw std::runtime_error("out of memory reading the JWT public key");
    if (EVP_PKEY* k = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr)) return k;
    // A certificate is accepted too: operators often have the signer's cert at hand.
    BIO_reset(bio.get());
    std::unique_ptr<X509, x509_deleter> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    EVP_PKEY* k = cert ? X509_get_pubkey(cert.get()) : nullptr;
    ERR_clear_error();
    return k;
}

// JWS carries an ECDSA signature as the fixed-width big-endian r and s (RFC 7518
// 3.4); OpenSSL verifies the DER SEQUENCE of two INTEGERs.
std::optional<std::string> es256_to_der(const std::string& raw) {
    if (raw.size() != 2 * es256_half) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
    std::unique_ptr<ECDSA_SIG, ecdsa_sig_deleter> sig(ECDSA_SIG_new());
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

void jwt_verifier::pkey_deleter::operator()(EVP_PKEY* p) const {
    EVP_PKEY_free(p);
}

jwt_verifier::jwt_verifier(options opts)
    : alg_name_(std::move(opts.alg)),
      audience_(std::move(opts.audience)),
      issuer_(std::move(opts.issuer)),
      claim_(std::move(opts.claim)),
      leeway_(opts.leeway),
      require_exp_(opts.require_exp) {
    if (leeway_ < 0) throw std::invalid_argument("JWT leeway must not be negative");
    if (claim_.empty()) throw std::invalid_argument("JWT user claim name is empty");
    if (alg_name_ == "HS256") {
        alg_ = algorithm::hs256;
        if (opts.key.empty()) throw std::invalid_argument("HS256 needs a non-empty secret");
        secret_ = std::move(opts.key);
        return;
    }
    if (alg_name_ == "RS256")
        alg_ = algorithm::rs256;
    else if (alg_name_ == "ES256")
        alg_ = algorithm::es256;
    else
        throw std::invalid_argument("unsupported JWT algorithm '" + alg_name_ + "' (use HS256, RS256 or ES256)");

    pkey_.reset(read_public_key(opts.key));
    if (!pkey_)
        throw std::invalid_argument(alg_name_ + " needs a PEM public key (\"BEGIN PUBLIC KEY\") or certificate");
    if (alg_ == algorithm::rs256) {
        if (!EVP_PKEY_is_a(pkey_.get(), "RSA")) throw std::invalid_argument("RS256 needs an RSA public key");
        if (EVP_PKEY_get_bits(pkey_.get()) < 2048)
            throw std::invalid_argument("RS256 public key is shorter than 2048 bits");
    } else {
        std::array<char, 64> group{};
        std::size_t len = 0;
        if (!EVP_PKEY_is_a(pkey_.get(), "EC") ||
            EVP_PKEY_get_utf8_string_param(pkey_.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(), &len) !=
                1 ||
            std::string_view(group.data(), len) != "prime256v1")
            throw std::invalid_argument("ES256 needs a P-256 EC public key");
    }
}

jwt_verifier::~jwt_verifier() = default;
jwt_verifier::jwt_verifier(jwt_verifier&&) noexcept = default;
jwt_verifier& jwt_verifier::operator=(jwt_verifier&&) noexcept = default;

std::optional<std::string> jwt_verifier::decode_base64url(std::string_view s) {
    return base64_decode_unpadded(s, base64_alphabet::url);
}

bool jwt_verifier::signature_ok(std::string_view signing_input, const std::string& sig) const {
    const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
    if (alg_ == algorithm::hs256) {
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
    const std::string* to_check = &sig;
    if (alg_ == algorithm::es256) {
        auto converted = es256_to_der(sig);
        if (!converted) return false;
        der = std::move(*converted);
        to_check = &der;
    }
    std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx(EVP_MD_CTX_new());
    if (!ctx) return false;
    if (EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, pkey_.get(), nullptr) != 1)
        return false;
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(to_check->data()), to_check->size(), data,
                            signing_input.size()) == 1;
}

jwt_result jwt_verifier::verify(std::string_view token, std::int64_t now_unix) const {
    auto fail = [](const char* reason) { return jwt_result{{}, reason, {}}; };
    if (token.size() > max_token_size) return fail("too_large");

    const auto dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return fail("malformed");
    const auto dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) return fail("malformed");
    const auto header_b64 = token.substr(0, dot1);
    const auto payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const auto sig_b64 = token.substr(dot2 + 1);
    if (header_b64.empty() || payload_b64.empty()) return fail("malformed");

    const auto header_json = decode_base64url(header_b64);
    const auto payload_json = decode_base64url(payload_b64);
    const auto sig = decode_base64url(sig_b64);
    if (!header_json || !payload_json || !sig) return fail("malformed");

    rapidjson::Document header;
    if (const auto p = parse_object(*header_json, header); p != parsed::ok) return fail(reason(p));
    const auto alg = header.FindMember("alg");
    if (alg == header.MemberEnd() || !string_equals(alg->value, alg_name_)) return fail("bad_alg");
    // We implement no extensions, so any critical one makes the token unusable (RFC 7515 4.1.11).
    if (header.HasMember("crit")) return fail("bad_alg");

    if (!signature_ok(token.substr(0, dot2), *sig)) {
        // A refused signature leaves entries on this thread's OpenSSL error queue;
        // clear them so they cannot be mistaken for a later, unrelated failure.
        ERR_clear_error();
        return fail("bad_signature");
    }

    rapidjson::Document payload;
    if (const auto p = parse_object(*payload_json, payload); p != parsed::ok) return fail(reason(p));

    const double now = static_cast<double>(now_unix);
    const double leeway = static_cast<double>(leeway_);
    double exp = 0;
    std::optional<std::int64_t> expires_at_ms;
    switch (numeric_date(payload, "exp", exp)) {
        case present::bad:
            return fail("malformed");
        case present::absent:
            if (require_exp_) return fail("missing_exp");
            break;
        case present::ok:
            if (now >= exp + leeway) return fail("expired");
            // In whole seconds, rounded up, as the check above reads the clock; capped
            // at the year 9999, so no exp can overflow the milliseconds.
            expires_at_ms = static_cast<std::int64_t>(std::ceil(std::min(exp + leeway, 253402300799.0))) * 1000;
            break;
    }
    double nbf = 0;
    switch (numeric_date(payload, "nbf", nbf)) {
        case present::bad:
            return fail("malformed");
        case present::absent:
            break;
        case present::ok:
            if (now + leeway < nbf) return fail("not_yet_valid");
            break;
    }

    const auto aud = payload.FindMember("aud");
    if (audience_.empty()) {
        if (aud != payload.MemberEnd()) return fail("bad_audience");
    } else {
        bool match = false;
        if (aud != payload.MemberEnd()) {
            if (aud->value.IsArray()) {
                for (const auto& a : aud->value.GetArray()) match = match || string_equals(a, audience_);
            } else {
                match = string_equals(aud->value, audience_);
            }
        }
        if (!match) return fail("bad_audience");
    }

    if (!issuer_.empty()) {
        const auto iss = payload.FindMember("iss");
        if (iss == payload.MemberEnd() || !string_equals(iss->value, issuer_)) return fail("bad_issuer");
    }

    const auto claim = payload.FindMember(claim_.c_str());
    if (claim == payload.MemberEnd() || claim->value.IsNull()) return fail("missing_claim");
    const auto& v = claim->value;
    if (v.IsString() && v.GetStringLength() > 0)
        return {std::string(v.GetString(), v.GetStringLength()), {}, expires_at_ms};
    if (v.IsInt64()) return {std::to_string(v.GetInt64()), {}, expires_at_ms};
    if (v.IsUint64()) return {std::to_string(v.GetUint64()), {}, expires_at_ms};
    return fail("bad_claim");
}

}  // namespace gw::auth
