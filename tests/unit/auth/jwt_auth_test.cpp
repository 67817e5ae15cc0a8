#include "auth/jwt_auth.hpp"

#include "auth_test_support.hpp"

#include <catch2/catch.hpp>

using namespace gw;
using namespace gw::auth;
namespace t = gw::auth::test;

namespace {

const std::string secret = "unit-test-secret-that-is-32-bytes-long!";
constexpr std::int64_t now = 1700000000;

jwt_auth make(std::string cookie = "gw_token") {
    jwt_verifier::options o;
    o.key = secret;
    return jwt_auth(std::move(o), std::move(cookie));
}

std::string tok(const std::string& sub) {
    return t::hs256_token(R"({"alg":"HS256"})", R"({"sub":")" + sub + R"(","exp":1700000300})", secret);
}

auth_result run(const jwt_auth& a, std::string_view target, const http::fields& f, std::int64_t at = now) {
    return a.authenticate_at(request_context{f, target, net::ip::make_address("127.0.0.1")}, at);
}

}  // namespace

TEST_CASE("a request without any token has no credentials") {
    const auto r = run(make(), "/authy/live_status", {});
    CHECK(r.what == outcome::no_credentials);
    CHECK(r.why == gw::auth::reason::missing_token);
    http::fields f;
    f.set(http::field::authorization, "Basic dXNlcjpwYXNz");
    f.set(http::field::cookie, "other=1");
    CHECK(run(make(), "/authy/live_status?access_token=", f).what == outcome::no_credentials);
}

TEST_CASE("the token is read from the access_token query parameter") {
    const auto r = run(make(), "/authy/live_status?x=1&access_token=" + t::url_escape(tok("7")), {});
    CHECK(r.what == outcome::ok);
    CHECK(r.user == "7");
}

TEST_CASE("the token is read from the configured cookie") {
    http::fields f;
    f.set(http::field::cookie, "a=b; gw_token=" + tok("8"));
    CHECK(run(make(), "/s", f).user == "8");
    CHECK(run(make(""), "/s", f).why == gw::auth::reason::missing_token);  // no cookie configured
}

TEST_CASE("the token is read from an Authorization Bearer header") {
    http::fields f;
    f.set(http::field::authorization, "Bearer " + tok("9"));
    CHECK(run(make(), "/s", f).user == "9");
}

TEST_CASE("the query parameter wins over the cookie, which wins over the header") {
    http::fields f;
    f.set(http::field::cookie, "gw_token=" + tok("8"));
    f.set(http::field::authorization, "Bearer " + tok("9"));
    CHECK(run(make(), "/s?access_token=" + tok("7"), f).user == "7");
    CHECK(run(make(), "/s", f).user == "8");
    // Only the chosen token counts: a bad one is not rescued by a good one elsewhere.
    CHECK(run(make(), "/s?access_token=x.y.z", f).what == outcome::invalid);
}

TEST_CASE("a failing token is invalid with the verifier's reason") {
    const auto r = run(make(), "/s?access_token=" + tok("7"), {}, now + 3600);
    CHECK(r.what == outcome::invalid);
    CHECK(r.why == gw::auth::reason::expired);
    CHECK(r.user.empty());
    CHECK(run(make(), "/s?access_token=abc", {}).why == gw::auth::reason::malformed);
    CHECK(run(make(), "/s?access_token=%zz", {}).why == gw::auth::reason::malformed);
    CHECK(run(make(), "/s?access_token=" + std::string(30000, 'a'), {}).why == gw::auth::reason::too_large);
}

TEST_CASE("authenticate uses the system clock") {
    const auto r = make().authenticate(
        request_context{http::fields{}, "/s?access_token=" + tok("7"), net::ip::make_address("127.0.0.1")});
    CHECK(r.why == gw::auth::reason::expired);  // exp is in 2023
}
