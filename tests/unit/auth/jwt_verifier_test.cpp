#include "auth/jwt_verifier.hpp"

#include "auth_test_support.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

using gw::auth::jwt_verifier;
namespace t = gw::auth::test;

namespace {

constexpr std::int64_t now = 1700000000;
const std::string secret = "unit-test-secret-that-is-32-bytes-long!";
const std::string hs_header = R"({"alg":"HS256","typ":"JWT"})";

jwt_verifier hs(std::string audience = {}, std::string issuer = {}, std::int64_t leeway = 30) {
    jwt_verifier::options o;
    o.alg = "HS256";
    o.key = secret;
    o.audience = std::move(audience);
    o.issuer = std::move(issuer);
    o.leeway = leeway;
    return jwt_verifier(std::move(o));
}

std::string token(const std::string& payload) {
    return t::hs256_token(hs_header, payload, secret);
}

std::string reason(const jwt_verifier& v, const std::string& tok, std::int64_t at = now) {
    return std::string(gw::auth::to_string(v.verify(tok, at).why));
}

}  // namespace

TEST_CASE("base64url decoding accepts only unpadded canonical URL-alphabet text") {
    CHECK(jwt_verifier::decode_base64url("") == std::string());
    CHECK(jwt_verifier::decode_base64url("YQ") == std::string("a"));
    CHECK(jwt_verifier::decode_base64url("YWI") == std::string("ab"));
    CHECK(jwt_verifier::decode_base64url("YWJj") == std::string("abc"));
    CHECK(jwt_verifier::decode_base64url("-_8") == std::string("\xfb\xff"));
    CHECK_FALSE(jwt_verifier::decode_base64url("YQ=="));   // padding
    CHECK_FALSE(jwt_verifier::decode_base64url("YWI="));   // padding
    CHECK_FALSE(jwt_verifier::decode_base64url("Y"));      // 4n+1 characters
    CHECK_FALSE(jwt_verifier::decode_base64url("YWJjZ"));  // 4n+1 characters
    CHECK_FALSE(jwt_verifier::decode_base64url("+/8"));    // standard alphabet
    CHECK_FALSE(jwt_verifier::decode_base64url("YW Jj"));  // whitespace
    CHECK_FALSE(jwt_verifier::decode_base64url("YR"));     // non-zero leftover bits
    CHECK_FALSE(jwt_verifier::decode_base64url(std::string("YW\0j", 4)));
}

TEST_CASE("a correctly signed HS256 token yields the subject") {
    auto r = hs().verify(token(R"({"sub":"7","exp":1700000300})"), now);
    CHECK(r.ok());
    CHECK(r.user == "7");
}

TEST_CASE("an integer subject is rendered in decimal and other types are refused") {
    CHECK(hs().verify(token(R"({"sub":7})"), now).user == "7");
    CHECK(hs().verify(token(R"({"sub":18446744073709551615})"), now).user == "18446744073709551615");
    CHECK(reason(hs(), token(R"({"sub":7.5})")) == "bad_claim");
    CHECK(reason(hs(), token(R"({"sub":true})")) == "bad_claim");
    CHECK(reason(hs(), token(R"({"sub":""})")) == "bad_claim");
    CHECK(reason(hs(), token(R"({"sub":["7"]})")) == "bad_claim");
    CHECK(reason(hs(), token(R"({"sub":null})")) == "missing_claim");
    CHECK(reason(hs(), token(R"({"user":"7"})")) == "missing_claim");
}

TEST_CASE("the user claim name is configurable") {
    jwt_verifier::options o;
    o.key = secret;
    o.claim = "uid";
    jwt_verifier v(std::move(o));
    CHECK(v.verify(token(R"({"sub":"1","uid":"42"})"), now).user == "42");
    CHECK(v.verify(token(R"({"sub":"1"})"), now).why == gw::auth::reason::missing_claim);
}

TEST_CASE("structurally broken tokens are malformed") {
    const auto v = hs();
    const auto good = token(R"({"sub":"7"})");
    CHECK(reason(v, "") == "malformed");
    CHECK(reason(v, "abc") == "malformed");
    CHECK(reason(v, "a.b") == "malformed");
    CHECK(reason(v, good + ".x") == "malformed");                            // extra dot and part
    CHECK(reason(v, good + ".") == "malformed");                             // extra dot
    CHECK(reason(v, "..") == "malformed");                                   // empty parts
    CHECK(reason(v, "." + good.substr(good.find('.') + 1)) == "malformed");  // empty header
    const auto dot = good.find('.');
    CHECK(reason(v, good.substr(0, dot) + ".." + good.substr(good.rfind('.') + 1)) == "malformed");  // empty payload
    CHECK(reason(v, good + "=") == "malformed");  // padding on the signature
    CHECK(reason(v, good.substr(0, dot) + "=" + good.substr(dot)) == "malformed");
    CHECK(reason(v, " " + good) == "malformed");
}

TEST_CASE("header and payload must be JSON objects") {
    const auto v = hs();
    CHECK(reason(v, t::hs256_token("[1]", R"({"sub":"7"})", secret)) == "malformed");
    CHECK(reason(v, t::hs256_token("not json", R"({"sub":"7"})", secret)) == "malformed");
    CHECK(reason(v, t::hs256_token(hs_header + "x", R"({"sub":"7"})", secret)) == "malformed");
    CHECK(reason(v, token(R"(["sub","7"])")) == "malformed");
    CHECK(reason(v, token(R"("7")")) == "malformed");
    CHECK(reason(v, token(R"({"sub":"7"} trailing)")) == "malformed");
    CHECK(reason(v, token(std::string(6000, '['))) == "malformed");  // deep nesting, no recursion
    CHECK(reason(v, token("{\"sub\":\"\xff\"}")) == "malformed");    // invalid UTF-8
    // A BOM, or one of its bytes, before the JSON: RapidJSON's Document::Parse(str,
    // length) would skip each; JSON.parse and PyJWT refuse them.
    CHECK(reason(v, token("\xef\xbb\xbf{\"sub\":\"7\"}")) == "malformed");
    CHECK(reason(v, token("\xbf{\"sub\":\"7\"}")) == "malformed");
    CHECK(reason(v, t::hs256_token("\xef" + hs_header, R"({"sub":"7"})", secret)) == "malformed");
}

TEST_CASE("a member name given twice in the header or the claims refuses the token") {
    // RapidJSON would read the first "sub", PyJWT and JavaScript the last: the same
    // token must not name two users, so it names none.
    const auto v = hs();
    CHECK(reason(v, token(R"({"sub":"43","sub":"42"})")) == "duplicate_member");
    CHECK(reason(v, token(R"({"sub":"42","exp":1700000300,"exp":1})")) == "duplicate_member");
    CHECK(reason(v, t::hs256_token(R"({"alg":"HS256","alg":"none"})", R"({"sub":"7"})", secret)) ==
          "duplicate_member");
    CHECK(reason(v, t::hs256_token(R"({"alg":"HS256","typ":"JWT","typ":"JWT"})", R"({"sub":"7"})", secret)) ==
          "duplicate_member");
    // Names are compared whole: a prefix or an escape spelling a different name is no duplicate.
    CHECK(v.verify(token(R"({"sub":"7","subx":"8","su":"9"})"), now).ok());
    // An escaped spelling of the same name is the same name.
    CHECK(reason(v, token(R"({"sub":"43","s\u0075b":"42"})")) == "duplicate_member");
    // Nested objects are not the claims: their names may repeat across levels.
    CHECK(v.verify(token(R"({"sub":"7","ctx":{"sub":"8"}})"), now).user == "7");
}

TEST_CASE("a token over 8 KiB is refused before it is parsed") {
    const auto v = hs();
    CHECK(reason(v, std::string(jwt_verifier::max_token_size + 1, 'a')) == "too_large");
    const auto big = token(R"({"sub":"7","pad":")" + std::string(7000, 'x') + "\"}");
    REQUIRE(big.size() > jwt_verifier::max_token_size);
    CHECK(reason(v, big) == "too_large");
    CHECK(reason(v, std::string(jwt_verifier::max_token_size, 'a')) == "malformed");
}

TEST_CASE("the header alg must be exactly the configured one") {
    const auto v = hs();
    const std::string p = R"({"sub":"7"})";
    CHECK(reason(v, t::hs256_token(R"({"alg":"none"})", p, secret)) == "bad_alg");
    CHECK(reason(v, t::b64url(R"({"alg":"none"})") + "." + t::b64url(p) + ".") == "bad_alg");
    CHECK(reason(v, t::hs256_token(R"({"alg":"hs256"})", p, secret)) == "bad_alg");
    CHECK(reason(v, t::hs256_token(R"({"alg":"HS512"})", p, secret)) == "bad_alg");
    CHECK(reason(v, t::hs256_token(R"({"alg":"RS256"})", p, secret)) == "bad_alg");
    CHECK(reason(v, t::hs256_token(R"({"typ":"JWT"})", p, secret)) == "bad_alg");
    CHECK(reason(v, t::hs256_token(R"({"alg":["HS256"]})", p, secret)) == "bad_alg");
    CHECK(reason(v, t::hs256_token(R"({"alg":"HS256","crit":["exp"]})", p, secret)) == "bad_alg");
}

TEST_CASE("a wrong or tampered HS256 signature is refused") {
    const auto v = hs();
    const auto good = token(R"({"sub":"7"})");
    CHECK(reason(v, t::hs256_token(hs_header, R"({"sub":"7"})", secret + "x")) == "bad_signature");
    const auto forged = good.substr(0, good.find('.') + 1) + t::b64url(R"({"sub":"8"})") + good.substr(good.rfind('.'));
    CHECK(reason(v, forged) == "bad_signature");
    CHECK(reason(v, good.substr(0, good.rfind('.') + 1)) == "bad_signature");  // empty signature
    CHECK(reason(v, good.substr(0, good.size() - 4)) == "bad_signature");      // truncated signature
    CHECK(reason(v, good.substr(0, good.rfind('.') + 1) + t::b64url(std::string(32, '\0'))) == "bad_signature");
}

TEST_CASE("exp is enforced with the configured leeway") {
    CHECK(hs().verify(token(R"({"sub":"7","exp":1700000001})"), now).ok());
    CHECK(hs().verify(token(R"({"sub":"7","exp":1699999990})"), now).ok());      // 10 s late, leeway 30
    CHECK(reason(hs(), token(R"({"sub":"7","exp":1699999970})")) == "expired");  // exactly at the edge
    CHECK(reason(hs(), token(R"({"sub":"7","exp":1699999000})")) == "expired");
    CHECK(reason(hs({}, {}, 0), token(R"({"sub":"7","exp":1700000000})")) == "expired");
    CHECK(hs({}, {}, 0).verify(token(R"({"sub":"7","exp":1700000000.5})"), now).ok());  // fractional NumericDate
    CHECK(reason(hs(), token(R"({"sub":"7","exp":"1800000000"})")) == "malformed");
    CHECK(reason(hs(), token(R"({"sub":"7","exp":null})")) == "malformed");
}

TEST_CASE("an accepted token says when it expires: exp plus the leeway, in whole seconds") {
    // A stream opened with the token ends then; from then on verify() says "expired".
    CHECK(hs().verify(token(R"({"sub":"7","exp":1700000100})"), now).expires_at_ms == 1700000130000);
    CHECK(hs({}, {}, 0).verify(token(R"({"sub":"7","exp":1700000100})"), now).expires_at_ms == 1700000100000);
    CHECK(hs({}, {}, 0).verify(token(R"({"sub":"7","exp":1700000000.5})"), now).expires_at_ms == 1700000001000);
    CHECK(reason(hs({}, {}, 0), token(R"({"sub":"7","exp":1700000000.5})"), 1700000001) == "expired");
    CHECK(hs().verify(token(R"({"sub":"7","exp":1e300})"), now).expires_at_ms == 253402300799000);
    CHECK_FALSE(hs().verify(token(R"({"sub":"7"})"), now).expires_at_ms.has_value());
}

TEST_CASE("nbf is enforced with the configured leeway") {
    CHECK(hs().verify(token(R"({"sub":"7","nbf":1700000030})"), now).ok());
    CHECK(reason(hs(), token(R"({"sub":"7","nbf":1700000031})")) == "not_yet_valid");
    CHECK(reason(hs({}, {}, 0), token(R"({"sub":"7","nbf":1700000001})")) == "not_yet_valid");
    CHECK(reason(hs(), token(R"({"sub":"7","nbf":true})")) == "malformed");
}

TEST_CASE("a token without exp is accepted unless exp is required") {
    CHECK(hs().verify(token(R"({"sub":"7"})"), now).ok());
    jwt_verifier::options o;
    o.key = secret;
    o.require_exp = true;
    CHECK(jwt_verifier(std::move(o)).verify(token(R"({"sub":"7"})"), now).why == gw::auth::reason::missing_exp);
}

TEST_CASE("aud may be a string or an array and must name the configured audience") {
    const auto v = hs("sse-gateway");
    CHECK(v.verify(token(R"({"sub":"7","aud":"sse-gateway"})"), now).ok());
    CHECK(v.verify(token(R"({"sub":"7","aud":["a","sse-gateway"]})"), now).ok());
    CHECK(reason(v, token(R"({"sub":"7","aud":"sse-gateway2"})")) == "bad_audience");
    CHECK(reason(v, token(R"({"sub":"7","aud":["a","b"]})")) == "bad_audience");
    CHECK(reason(v, token(R"({"sub":"7","aud":[]})")) == "bad_audience");
    CHECK(reason(v, token(R"({"sub":"7","aud":[["sse-gateway"]]})")) == "bad_audience");
    CHECK(reason(v, token(R"({"sub":"7"})")) == "bad_audience");
}

TEST_CASE("a token naming an audience is refused when none is configured") {
    CHECK(reason(hs(), token(R"({"sub":"7","aud":"billing"})")) == "bad_audience");
}

TEST_CASE("iss must match when an issuer is configured") {
    const auto v = hs({}, "https://app.example");
    CHECK(v.verify(token(R"({"sub":"7","iss":"https://app.example"})"), now).ok());
    CHECK(reason(v, token(R"({"sub":"7","iss":"https://evil.example"})")) == "bad_issuer");
    CHECK(reason(v, token(R"({"sub":"7"})")) == "bad_issuer");
    CHECK(hs().verify(token(R"({"sub":"7","iss":"anyone"})"), now).ok());
}

TEST_CASE("RS256 tokens verify with the PEM public key and refuse HS256 keyed with that PEM") {
    const auto kp = t::make_key(true);
    jwt_verifier::options o;
    o.alg = "RS256";
    o.key = kp.public_pem;
    const jwt_verifier v(std::move(o));
    const std::string p = R"({"sub":"7"})";
    const auto good = t::pk_token(kp, false, R"({"alg":"RS256"})", p);
    CHECK(v.verify(good, now).user == "7");
    const auto forged = good.substr(0, good.find('.') + 1) + t::b64url(R"({"sub":"8"})") + good.substr(good.rfind('.'));
    CHECK(reason(v, forged) == "bad_signature");
    CHECK(reason(v, t::pk_token(t::make_key(true), false, R"({"alg":"RS256"})", p)) == "bad_signature");
    // Algorithm confusion: an HMAC keyed with the public key the attacker can read.
    CHECK(reason(v, t::hs256_token(R"({"alg":"HS256"})", p, kp.public_pem)) == "bad_alg");
    CHECK(reason(v, t::hs256_token(R"({"alg":"RS256"})", p, kp.public_pem)) == "bad_signature");
    CHECK(reason(v, t::b64url(R"({"alg":"none"})") + "." + t::b64url(p) + ".") == "bad_alg");
}

TEST_CASE("ES256 tokens carry raw r||s signatures") {
    const auto kp = t::make_key(false);
    jwt_verifier::options o;
    o.alg = "ES256";
    o.key = kp.public_pem;
    const jwt_verifier v(std::move(o));
    const std::string p = R"({"sub":"7"})";
    const auto good = t::pk_token(kp, true, R"({"alg":"ES256"})", p);
    CHECK(v.verify(good, now).user == "7");
    const auto input = good.substr(0, good.rfind('.') + 1);
    const auto raw = *jwt_verifier::decode_base64url(good.substr(good.rfind('.') + 1));
    REQUIRE(raw.size() == 64);
    CHECK(reason(v, input + t::b64url(raw.substr(0, 63))) == "bad_signature");  // short
    CHECK(reason(v, input + t::b64url(raw + "x")) == "bad_signature");          // long
    CHECK(reason(v, input + t::b64url(std::string(64, '\0'))) == "bad_signature");
    CHECK(reason(v, input + t::b64url(std::string(64, '\xff'))) == "bad_signature");
    auto flipped = raw;
    flipped[40] = static_cast<char>(flipped[40] ^ 1);
    CHECK(reason(v, input + t::b64url(flipped)) == "bad_signature");
    CHECK(reason(v, t::pk_token(t::make_key(false), true, R"({"alg":"ES256"})", p)) == "bad_signature");
    CHECK(reason(v, t::hs256_token(R"({"alg":"HS256"})", p, kp.public_pem)) == "bad_alg");
}

TEST_CASE("construction refuses unusable algorithms and keys") {
    auto make = [](std::string alg, std::string key) {
        jwt_verifier::options o;
        o.alg = std::move(alg);
        o.key = std::move(key);
        return jwt_verifier(std::move(o));
    };
    const auto rsa = t::make_key(true);
    const auto ec = t::make_key(false);
    CHECK_THROWS_AS(make("none", "x"), std::invalid_argument);
    CHECK_THROWS_AS(make("HS384", "x"), std::invalid_argument);
    CHECK_THROWS_AS(make("HS256", ""), std::invalid_argument);
    CHECK_THROWS_AS(make("RS256", "not a pem"), std::invalid_argument);
    CHECK_THROWS_AS(make("RS256", ec.public_pem), std::invalid_argument);
    CHECK_THROWS_AS(make("ES256", rsa.public_pem), std::invalid_argument);
    CHECK_THROWS_AS(make("RS256", t::make_key(true, 1024).public_pem), std::invalid_argument);
    CHECK_NOTHROW(make("RS256", rsa.public_pem));
    CHECK_NOTHROW(make("ES256", ec.public_pem));
    jwt_verifier::options o;
    o.key = secret;
    o.leeway = -1;
    CHECK_THROWS_AS(jwt_verifier(std::move(o)), std::invalid_argument);
}

TEST_CASE("reason codes never echo token bytes") {
    const auto v = hs();
    for (const std::string& tok :
         {std::string("secret-looking.garbage.here"), token(R"({"sub":"7","exp":1})"), std::string(9000, 'z')}) {
        const auto r = v.verify(tok, now);
        const auto why = gw::auth::to_string(r.why);
        CHECK(why.size() < 20);
        CHECK(tok.find(why) == std::string::npos);
    }
}
