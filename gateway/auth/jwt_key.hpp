#pragma once
// One key a JWT signature may be checked with, bound to exactly one algorithm: an
// HS256 secret, or an RS256 or ES256 (P-256) public key,
// with the "kid" it is known by (empty when it has none). A token is only ever
// checked with keys of the algorithm its header names, so an RSA public key can
// never be used as an HMAC secret (algorithm confusion).
// Thread rule: immutable after construction; copies share the public key, and
// verify() may run concurrently on any number of threads.
#include <openssl/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::auth {

enum class jwt_alg { hs256, rs256, es256 };

// "HS256", "RS256", "ES256"; nullopt for anything else (none, HS512, ...).
std::optional<jwt_alg> parse_jwt_alg(std::string_view name);
std::string_view to_string(jwt_alg alg);

class jwt_key {
public:
    // Throws std::invalid_argument for an empty secret.
    static jwt_key hmac(std::string secret, std::string kid = {});

    // Each public key in PEM text ("PUBLIC KEY", "RSA PUBLIC KEY" or "CERTIFICATE"
    // blocks, in order). Throws std::invalid_argument, naming neither key nor text,
    // when there is none, when a block is anything else (a private key has no
    // business on this side), or when a key does not fit alg (HS256 never does).
    static std::vector<jwt_key> from_pem(jwt_alg alg, std::string_view pem);

    // Takes ownership of pkey (also when it throws, as from_pem does for a misfit).
    // An RS256 key must be sound: a modulus of 2048 to 8192 bits and an odd
    // exponent from 3 to 2^32 - 1; anything else throws std::invalid_argument.
    static jwt_key from_public_key(jwt_alg alg, EVP_PKEY* pkey, std::string kid);

    jwt_alg alg() const { return alg_; }
    const std::string& kid() const { return kid_; }

    // The signature (raw bytes as carried in the token: for ES256 the fixed-width
    // r||s of RFC 7518 3.4) over signing_input. The MAC is compared in constant time.
    bool verify(std::string_view signing_input, std::string_view signature) const;

private:
    jwt_key(jwt_alg alg, std::string kid) : alg_(alg), kid_(std::move(kid)) {}

    jwt_alg alg_;
    std::string kid_;
    std::string secret_;              // HS256
    std::shared_ptr<EVP_PKEY> pkey_;  // RS256, ES256
};

}  // namespace gw::auth
