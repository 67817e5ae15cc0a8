#pragma once
// Verifies a compact-serialised JWS (RFC 7515/7519) against a set of keys, each
// bound to one algorithm (HS256 secret, RS256 or ES256 public key; see jwt_key).
//
// Checks, in order: size (at most max_token_size bytes), three strict base64url
// parts (unpadded, no '=' or characters outside the URL alphabet), a JSON object
// header whose "alg" is the algorithm of at least one key and which has no "crit",
// the signature, a JSON object payload, "exp" and "nbf" (NumericDate, with leeway),
// "aud" and "iss", and finally the user claim, which must be a non-empty string or
// an integer (rendered in decimal).
//
// Which keys the signature is checked with: only keys of the header's "alg"; of
// those, the ones whose kid equals the header's "kid" when it has one and some key
// carries it. A "kid" no key carries falls back to the keys without a kid (keys
// from PEM files and secrets have none, and an app may name its key anyway); if
// that fails too, the result says unknown_kid, so a JWKS source can be fetched again. Without a
// "kid", every key of the algorithm is tried, the current one first.
//
// One token's work is bounded: of the keys chosen above, at most max_keys_tried (8)
// check its signature, in the order above. A key set carries a kid once (see
// parse_jwks), so a token naming a kid costs one check per source; keys without a
// kid (secrets, PEM files, a set's kid-less keys) past the 8th of one algorithm are
// never reached, which is why rotating through a few at a time is the way.
//
// "aud": when an audience is configured the token must name it (a string or an
// array containing it). When none is configured a token that carries "aud" is
// refused, as RFC 7519 4.1.3 requires: it was minted for someone else.
// "exp" is optional unless require_exp is set (tokens without it never expire).
//
// Reasons (see reason.hpp): malformed, too_large, bad_alg,
// unknown_kid (a kid no key carries, and no key without a kid to fall back to),
// bad_signature, expired, not_yet_valid, missing_exp, bad_audience, bad_issuer,
// missing_claim, bad_claim.
//
// Thread rule: immutable after construction; verify() may run concurrently.
#include "auth/jwt_key.hpp"
#include "auth/reason.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::auth {

struct jwt_result {
    std::string user;           // set when why is none
    reason why = reason::none;  // none on success
    // exp plus the leeway, rounded up to a second, in Unix ms: from then on
    // verify() says "expired".
    std::optional<std::int64_t> expires_at_ms;
    // Refused, and the header named a kid that no key carries: keys may be missing.
    bool unknown_kid = false;

    bool ok() const { return why == reason::none; }
};

class jwt_verifier {
public:
    static constexpr std::size_t max_token_size = 8192;
    static constexpr std::size_t max_keys_tried = 8;

    struct options {
        // One key given as text: alg "HS256" with the secret bytes, or "RS256"/"ES256"
        // with PEM text (one or more keys). An empty alg means none: then key must
        // be empty too, and `keys` alone (possibly none) is used.
        std::string alg = "HS256";
        std::string key;
        std::vector<jwt_key> keys;  // further keys, any algorithm, after the one above
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

    jwt_result verify(std::string_view token, std::int64_t now_unix) const;

    // Every key, in the order tried.
    const std::vector<jwt_key>& keys() const { return keys_; }

    // Strict base64url (RFC 4648 section 5) without padding: '=' and characters
    // outside [A-Za-z0-9_-] are refused, as are impossible lengths (4n+1) and
    // non-zero leftover bits, so every byte string has exactly one encoding.
    static std::optional<std::string> decode_base64url(std::string_view s);

private:
    std::vector<jwt_key> keys_;
    std::string audience_;
    std::string issuer_;
    std::string claim_;
    std::int64_t leeway_;
    bool require_exp_;
};

}  // namespace gw::auth
