#pragma once
// Verifies a compact-serialised JWS (RFC 7515/7519) signed with exactly one
// configured algorithm: HS256 (shared secret), RS256 or ES256 (PEM public key).
//
// Checks, in order: size (at most max_token_size bytes), three strict base64url
// parts (unpadded, no '=' or characters outside the URL alphabet), a JSON object
// header whose "alg" is exactly the configured one and which has no "crit", the
// signature (HMAC compared in constant time; ES256 as raw r||s), a JSON object
// payload, "exp" and "nbf" (NumericDate, with leeway), "aud" and "iss", and
// finally the user claim, which must be a non-empty string or an integer
// (rendered in decimal).
//
// "aud": when an audience is configured the token must name it (a string or an
// array containing it). When none is configured a token that carries "aud" is
// refused, as RFC 7519 4.1.3 requires: it was minted for someone else.
// "exp" is optional unless require_exp is set (tokens without it never expire).
//
// Reason codes (never containing token bytes): malformed, too_large, bad_alg,
// bad_signature, expired, not_yet_valid, missing_exp, bad_audience, bad_issuer,
// missing_claim, bad_claim.
//
// Thread rule: immutable after construction; verify() may run concurrently.
#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gw::auth {

struct jwt_result {
    std::string user;    // set when reason is empty
    std::string reason;  // empty on success
    // exp plus the leeway, rounded up to a second, in Unix ms: from then on
    // verify() says "expired".
    std::optional<std::int64_t> expires_at_ms;

    bool ok() const { return reason.empty(); }
};

class jwt_verifier {
public:
    static constexpr std::size_t max_token_size = 8192;

    struct options {
        std::string alg = "HS256";  // "HS256", "RS256" or "ES256"
        std::string key;            // HS256: the secret bytes; RS256/ES256: PEM public key text
        std::string audience;       // empty: no audience expected
        std::string issuer;         // empty: "iss" not checked
        std::string claim = "sub";  // the claim naming the user
        std::int64_t leeway = 30;   // seconds of clock skew allowed for exp/nbf
        bool require_exp = false;
    };

    // Throws std::invalid_argument with a one-line reason for an unsupported alg,
    // an empty secret, an unreadable PEM, a key of the wrong type (RSA for RS256,
    // P-256 EC for ES256), an RSA key under 2048 bits, or a negative leeway.
    explicit jwt_verifier(options opts);
    ~jwt_verifier();
    jwt_verifier(jwt_verifier&&) noexcept;
    jwt_verifier& operator=(jwt_verifier&&) noexcept;

    jwt_result verify(std::string_view token, std::int64_t now_unix) const;

    // Strict base64url (RFC 4648 section 5) without padding: '=' and characters
    // outside [A-Za-z0-9_-] are refused, as are impossible lengths (4n+1) and
    // non-zero leftover bits, so every byte string has exactly one encoding.
    static std::optional<std::string> decode_base64url(std::string_view s);

private:
    enum class algorithm { hs256, rs256, es256 };

    bool signature_ok(std::string_view signing_input, const std::string& sig) const;

    algorithm alg_;
    std::string alg_name_;
    std::string secret_;
    struct pkey_deleter {
        void operator()(EVP_PKEY* p) const;
    };
    std::unique_ptr<EVP_PKEY, pkey_deleter> pkey_;
    std::string audience_;
    std::string issuer_;
    std::string claim_;
    std::int64_t leeway_;
    bool require_exp_;
};

}  // namespace gw::auth
