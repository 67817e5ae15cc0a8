#pragma once
// Reads a JSON Web Key Set (RFC 7517), from a file or an identity provider's URL,
// into the keys JWTs are checked with. Each usable key becomes a jwt_key bound to
// one algorithm with its "kid":
//   * kty "RSA" (n, e) -> RS256, at least 2048 bits;
//   * kty "EC", crv "P-256" (x, y on the curve) -> ES256.
// A key is skipped (counted, not an error) when it is meant for something else or
// is one we cannot use: another kty or curve ("oct" secrets are never taken from a
// key set), "use" other than "sig", "key_ops" without "verify", an "alg" other than
// the one its type gives, or members that do not decode to a sound key. RFC 7517 5
// asks for this, so a provider can publish keys for other clients in the same set.
//
// A key meant for us that is unsound is refused instead (also not an error, but
// logged and counted by the caller, see log_refused): one that jwt_key refuses (an
// RSA exponent below 3, even or over 2^32 - 1, a modulus under 2048 or over 8192
// bits), members that do not decode to a key, and a kid an earlier key of the set
// already carries (the first keeps it: a token naming a kid is then checked with
// one key of the set, never with hundreds planted under one kid).
//
// Thread rule: pure functions, any thread.
#include "auth/jwt_key.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gw::auth {

struct refused_key {
    std::string kid;  // as the set gives it (public), possibly empty
    std::string why;  // one short phrase, naming no key material
};

struct jwks_keys {
    std::vector<jwt_key> keys;  // in the set's order
    std::size_t skipped = 0;
    std::vector<refused_key> refused;
};

// Throws std::invalid_argument with a one-line reason (naming no key material) when
// text is not a key set at all: not a JSON object, no "keys" array, an entry that
// is not an object, a member named twice, or not one usable key.
jwks_keys parse_jwks(std::string_view text);

// One warn line per refused key ("JWT key refused", with source, kid and why).
void log_refused(const std::vector<refused_key>& refused, std::string_view source);

}  // namespace gw::auth
