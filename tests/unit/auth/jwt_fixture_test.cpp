// Tokens signed by Debian's PyJWT (tests/support/make_auth_fixtures.sh).
#include "auth/jwt_auth.hpp"
#include "auth/jwt_verifier.hpp"

#include "auth_test_support.hpp"
#include "fixture_support.hpp"

#include <catch2/catch.hpp>

#include <initializer_list>

using namespace gw;
using namespace gw::auth;
namespace t = gw::auth::test;

namespace {

jwt_verifier::options options_for(const rapidjson::Value& v) {
    jwt_verifier::options o;
    o.alg = t::str(v, "alg");
    if (v.HasMember("secret")) o.key = t::str(v, "secret");
    if (v.HasMember("secret_file")) o.key = t::read_fixture(t::str(v, "secret_file"));
    if (v.HasMember("key_file")) o.key = t::read_fixture(t::str(v, "key_file"));
    o.audience = t::str(v, "audience");
    o.issuer = t::str(v, "issuer");
    if (v.HasMember("claim")) o.claim = t::str(v, "claim");
    if (v.HasMember("leeway")) o.leeway = v["leeway"].GetInt64();
    return o;
}

jwt_verifier verifier_for(const rapidjson::Value& v) { return jwt_verifier(options_for(v)); }

// Runs every non-live case whose name starts with one of prefixes; returns how many ran.
int run_cases(std::initializer_list<const char*> prefixes) {
    rapidjson::Document doc;
    const auto& cases = t::fixture_cases(doc, "jwt_cases.json");
    int ran = 0;
    for (const auto& c : cases.GetArray()) {
        const auto name = t::str(c, "name");
        if (c["live"].GetBool() || !t::starts_with_any(name, prefixes)) continue;
        ++ran;
        INFO("case " << name);
        const auto r = verifier_for(c["verifier"]).verify(t::str(c, "token"), c["now"].GetInt64());
        const auto expect = t::str(c, "expect");
        if (expect == "ok") {
            CHECK(r.why == gw::auth::reason::none);
            CHECK(r.user == t::str(c, "user"));
        } else {
            CHECK(gw::auth::to_string(r.why) == expect);
            CHECK(r.user.empty());
        }
    }
    return ran;
}

}  // namespace

TEST_CASE("HS256 tokens signed by PyJWT are accepted and their forgeries refused") {
    CHECK(run_cases({"hs256_", "hs512_"}) >= 20);
}

TEST_CASE("RS256 tokens signed by PyJWT are accepted and their forgeries refused") {
    CHECK(run_cases({"rs256_", "rs512_", "ps256_"}) >= 5);
}

TEST_CASE("ES256 tokens signed by PyJWT are accepted and their forgeries refused") {
    CHECK(run_cases({"es256_"}) >= 4);
}

TEST_CASE("PyJWT tokens with alg none or HS256 keyed with the RSA public key are refused") {
    CHECK(run_cases({"alg_none", "confusion_"}) >= 4);
}

TEST_CASE("every PyJWT fixture case is exercised") {
    rapidjson::Document doc;
    const auto& cases = t::fixture_cases(doc, "jwt_cases.json");
    int fixed = 0;
    for (const auto& c : cases.GetArray()) fixed += c["live"].GetBool() ? 0 : 1;
    CHECK(run_cases({""}) == fixed);
}

TEST_CASE("current PyJWT tokens authenticate through the jwt mode from every token source") {
    rapidjson::Document doc;
    const auto& cases = t::fixture_cases(doc, "jwt_cases.json");
    int ran = 0;
    for (const auto& c : cases.GetArray()) {
        if (!c["live"].GetBool()) continue;
        ++ran;
        const auto name = t::str(c, "name");
        const auto token = t::str(c, "token");
        const auto expect = t::str(c, "expect");
        const jwt_auth mode(options_for(c["verifier"]), "gw_token");
        const auto peer = net::ip::make_address("127.0.0.1");

        http::fields cookie;
        cookie.set(http::field::cookie, "theme=dark; gw_token=" + token);
        http::fields bearer;
        bearer.set(http::field::authorization, "Bearer " + token);
        const std::string query = "/authy/live_status?access_token=" + t::url_escape(token);

        for (const auto& [source, r] :
             {std::pair{"query", mode.authenticate(request_context{http::fields{}, query, peer})},
              std::pair{"cookie", mode.authenticate(request_context{cookie, "/authy/live_status", peer})},
              std::pair{"bearer", mode.authenticate(request_context{bearer, "/authy/live_status", peer})}}) {
            INFO("case " << name << " via " << source);
            if (expect == "ok") {
                CHECK(r.what == outcome::ok);
                CHECK(r.user == t::str(c, "user"));
            } else {
                CHECK(r.what == outcome::invalid);
                CHECK(gw::auth::to_string(r.why) == expect);
            }
        }
    }
    CHECK(ran >= 4);
}
