#include "auth/reason.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace gw::auth;

// The wire names are a contract with operators (metric labels, log fields) and
// clients (the JSON error code), and proto_docs/identity.md names them.
TEST_CASE("every auth reason keeps its wire name") {
    const std::set<std::string> wire = {
        "missing_credentials", "duplicate_header", "untrusted_source", "missing_secret", "bad_secret",
        "missing_user",        "missing_token",    "bad_alg",          "unknown_kid",    "not_yet_valid",
        "missing_exp",         "bad_audience",     "bad_issuer",       "missing_claim",  "bad_claim",
        "missing_cookie",      "decrypt_failed",   "wrong_purpose",    "marshal_session", "missing_key",
        "bad_user_value",      "too_large",        "malformed",        "duplicate_member", "bad_signature",
        "expired"};
    std::set<std::string> named;
    for (std::size_t i = 1; i < reason_count; ++i) named.insert(std::string(to_string(static_cast<reason>(i))));
    CHECK(named == wire);
    CHECK(to_string(reason::none).empty());
    CHECK(to_string(reason::bad_signature) == "bad_signature");
    CHECK(index_of(reason::expired) + 1 == reason_count);
}
