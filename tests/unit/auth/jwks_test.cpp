#include "auth/jwks.hpp"
#include "auth/jwks_fetcher.hpp"
#include "auth/jwt_verifier.hpp"

#include "auth_test_support.hpp"
#include "base64.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace gw::auth;
namespace t = gw::auth::test;

namespace {

constexpr std::int64_t now = 1700000000;
const std::string claims = R"({"sub":"7","exp":1700000300})";

std::string set_of(std::initializer_list<std::string> keys) {
    std::string out = R"({"keys":[)";
    bool first = true;
    for (const auto& k : keys) {
        out += (first ? "" : ",") + k;
        first = false;
    }
    return out + "]}";
}

std::string error_of(std::string_view text) {
    try {
        parse_jwks(text);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return {};
}

jwt_verifier verifier(std::vector<jwt_key> keys) {
    jwt_verifier::options o;
    o.alg.clear();
    o.keys = std::move(keys);
    return jwt_verifier(std::move(o));
}

}  // namespace

TEST_CASE("a JWKS yields its RSA and P-256 keys with their kids, in order") {
    const auto rsa = t::make_key(true);
    const auto ec = t::make_key(false);
    const auto set = parse_jwks(set_of({t::jwk(rsa, true, "r1", R"("use":"sig","alg":"RS256")"),
                                        t::jwk(ec, false, "e1", R"("key_ops":["verify"])"), t::jwk(rsa, true, "")}));
    CHECK(set.skipped == 0);
    REQUIRE(set.keys.size() == 3);
    CHECK(set.keys[0].alg() == jwt_alg::rs256);
    CHECK(set.keys[0].kid() == "r1");
    CHECK(set.keys[1].alg() == jwt_alg::es256);
    CHECK(set.keys[1].kid() == "e1");
    CHECK(set.keys[2].kid().empty());

    // The keys check real signatures.
    const auto v = verifier(set.keys);
    CHECK(v.verify(t::pk_token(rsa, false, R"({"alg":"RS256","kid":"r1"})", claims), now).user == "7");
    CHECK(v.verify(t::pk_token(ec, true, R"({"alg":"ES256","kid":"e1"})", claims), now).user == "7");
}

TEST_CASE("keys a JWKS holds for other uses or algorithms are skipped, not fatal") {
    const auto rsa = t::make_key(true);
    const auto ec = t::make_key(false);
    const auto set = parse_jwks(set_of({
        R"({"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA","kid":"hmac"})",  // never from a key set
        t::jwk(rsa, true, "enc", R"("use":"enc")"),
        t::jwk(rsa, true, "ops", R"("key_ops":["encrypt"])"),
        t::jwk(rsa, true, "rs384", R"("alg":"RS384")"),
        t::jwk(ec, false, "mismatch", R"("alg":"RS256")"),
        t::jwk(t::make_key(true, 1024), true, "short"),
        R"({"kty":"EC","crv":"P-384","kid":"p384","x":"AAAA","y":"AAAA"})",
        R"({"kty":"RSA","kid":"no-n","e":"AQAB"})",
        R"({"kty":"RSA","kid":7,"n":"AQAB","e":"AQAB"})",
        R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
        t::jwk(ec, false, "good"),
    }));
    REQUIRE(set.keys.size() == 1);
    CHECK(set.keys[0].kid() == "good");
    CHECK(set.skipped == 10);
}

TEST_CASE("an EC point that is not on P-256 is skipped") {
    const auto ec = t::make_key(false);
    auto good = t::jwk(ec, false, "k");
    // Replace y with another 32-byte value: (x, y') is (almost surely) off the curve.
    const auto y = good.find(R"("y":")") + 5;
    auto bad = good;
    bad.replace(y, 43, t::b64url(std::string(32, '\x01')));
    CHECK(error_of(set_of({bad})).find("no usable") != std::string::npos);
    CHECK(parse_jwks(set_of({good})).keys.size() == 1);
}

TEST_CASE("text that is not a key set is refused with a reason that names no key material") {
    const auto rsa = t::make_key(true);
    CHECK(error_of("") == "not a JSON object");
    CHECK(error_of("[]") == "not a JSON object");
    CHECK(error_of(R"({"keys":{}})") == "no \"keys\" array");
    CHECK(error_of(R"({"kid":"x"})") == "no \"keys\" array");
    CHECK(error_of(R"({"keys":[1]})") == "an entry of \"keys\" is not an object");
    CHECK(error_of(R"({"keys":[],"keys":[]})") == "a member is named twice");
    CHECK(error_of(R"({"keys":[]})") == "no usable RS256 or ES256 signing key (0 skipped)");
    const auto only_short = set_of({t::jwk(t::make_key(true, 1024), true, "short")});
    CHECK(error_of(only_short) == "no usable RS256 or ES256 signing key (1 skipped)");
}

TEST_CASE("a JWKS URL is http or https with a host, an optional port and a path") {
    auto u = parse_fetch_url("https://id.example.com/.well-known/jwks.json?v=2#frag");
    REQUIRE(u);
    CHECK(u->tls);
    CHECK(u->host == "id.example.com");
    CHECK(u->port == "443");
    CHECK(u->target == "/.well-known/jwks.json?v=2");
    CHECK(u->host_header == "id.example.com");

    u = parse_fetch_url("http://127.0.0.1:8081");
    REQUIRE(u);
    CHECK_FALSE(u->tls);
    CHECK(u->port == "8081");
    CHECK(u->target == "/");
    CHECK(u->host_header == "127.0.0.1:8081");

    u = parse_fetch_url("http://[::1]:9000?x=1");
    REQUIRE(u);
    CHECK(u->host == "::1");
    CHECK(u->port == "9000");
    CHECK(u->target == "/?x=1");
    CHECK(u->host_header == "[::1]:9000");

    for (const char* bad : {"ftp://h/x", "http://", "http:///x", "http://user:pw@h/x", "http://h:0/", "http://h:65536/",
                            "http://h:x/", "http://h:/", "http://[::1/x", "http://[::1]x/", "http://h/a b"})
        CHECK_FALSE(parse_fetch_url(bad));
}

TEST_CASE("an EC coordinate written without its leading zero bytes is padded back; a longer one is skipped") {
    // PyJWT before 2.8 (Debian 12 has 2.6) drops them, for about one key in 128:
    // find a key whose x starts with a zero byte and write x the way it does.
    for (int tries = 0; tries < 5000; ++tries) {
        const auto ec = t::make_key(false);
        const auto full = t::jwk(ec, false, "k");
        const auto at = full.find(R"("x":")") + 5;
        const auto x = gw::base64_decode_unpadded(full.substr(at, 43), gw::base64_alphabet::url);
        REQUIRE(x);
        if ((*x)[0] != '\0') continue;
        auto short_x = full;
        short_x.replace(at, 43, t::b64url(x->substr(1)));
        const auto set = parse_jwks(set_of({short_x}));
        REQUIRE(set.keys.size() == 1);
        CHECK(verifier(set.keys).verify(t::pk_token(ec, true, R"({"alg":"ES256","kid":"k"})", claims), now).user ==
              "7");
        auto long_x = full;
        long_x.replace(at, 43, t::b64url("\x01" + *x));
        CHECK(error_of(set_of({long_x})).find("no usable") != std::string::npos);
        return;
    }
    FAIL("no P-256 key with a leading zero byte in x in 5000 tries");
}
