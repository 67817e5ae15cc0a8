#pragma once
// Why an identity check did not name a user. Named in code; the text exists only
// where it leaves the process: the "stream refused" log field, the
// auth_refusals_total{reason} label and the JSON error body's "error" code. Those
// strings are a contract with operators and clients: never rename one.
//
// none is "no reason": the check succeeded.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace gw::auth {

enum class reason : std::uint8_t {
    none,  // success
    // No mode found anything to check (the chain's answer when every mode says so).
    missing_credentials,
    // proxy-header mode
    duplicate_header,  // the user or secret header given twice
    untrusted_source,  // the peer is outside --proxy-networks
    missing_secret,    // a user header without the secret header
    bad_secret,        // the secret header matches no configured secret
    missing_user,      // the secret is right but the user header is absent or empty
    // jwt mode
    missing_token,  // no Authorization: Bearer and no token cookie
    bad_alg,        // "alg" names no configured key's algorithm, or "crit" is present
    unknown_kid,    // a "kid" no key carries, and no key without a kid to fall back to
    not_yet_valid,  // "nbf" lies in the future
    missing_exp,    // --jwt-require-exp and the token has no "exp"
    bad_audience,
    bad_issuer,
    missing_claim,  // the user claim is absent or null
    bad_claim,      // the user claim is neither a non-empty string nor an integer
    // rails-session mode
    missing_cookie,
    decrypt_failed,
    wrong_purpose,    // the envelope's "pur" names another cookie
    marshal_session,  // a Marshal dump: never parsed
    missing_key,      // none of the session keys is present
    bad_user_value,   // the first present session key is not a string or integer
    // shared by the token and cookie checks
    too_large,
    malformed,
    duplicate_member,  // a JSON member name given twice
    bad_signature,
    expired,
};

inline constexpr std::size_t reason_count = static_cast<std::size_t>(reason::expired) + 1;

// The wire name: the log field, metric label and JSON error code.
constexpr std::string_view to_string(reason r) {
    constexpr std::string_view names[] = {"",
                                          "missing_credentials",
                                          "duplicate_header",
                                          "untrusted_source",
                                          "missing_secret",
                                          "bad_secret",
                                          "missing_user",
                                          "missing_token",
                                          "bad_alg",
                                          "unknown_kid",
                                          "not_yet_valid",
                                          "missing_exp",
                                          "bad_audience",
                                          "bad_issuer",
                                          "missing_claim",
                                          "bad_claim",
                                          "missing_cookie",
                                          "decrypt_failed",
                                          "wrong_purpose",
                                          "marshal_session",
                                          "missing_key",
                                          "bad_user_value",
                                          "too_large",
                                          "malformed",
                                          "duplicate_member",
                                          "bad_signature",
                                          "expired"};
    static_assert(std::size(names) == reason_count, "one name per reason");
    return names[static_cast<std::size_t>(r)];
}

constexpr std::size_t index_of(reason r) {
    return static_cast<std::size_t>(r);
}

}  // namespace gw::auth
