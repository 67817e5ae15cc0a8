#include "auth/rails_session_auth.hpp"

#include "auth_test_support.hpp"

#include <catch2/catch.hpp>

using namespace gw;
using namespace gw::auth;
namespace t = gw::auth::test;

namespace {

const std::string skb(128, 'b');

rails_session_auth make(std::string fallback = {}) {
    return rails_session_auth(skb, "_app_session", "", "pre_2fa_auth_user_id", std::move(fallback));
}

auth_result run(const rails_session_auth& a, const std::string& cookie_header) {
    http::fields f;
    if (!cookie_header.empty()) f.set(http::field::cookie, cookie_header);
    return a.authenticate_at(request_context{f, "/authy/live_status", net::ip::make_address("::1")}, 1700000000);
}

}  // namespace

TEST_CASE("no session cookie means no credentials") {
    CHECK(run(make(), "").why == gw::auth::reason::missing_cookie);
    CHECK(run(make(), "other=1").what == outcome::no_credentials);
    CHECK(run(make(), "x_app_session=" + t::gcm_cookie(skb, R"({"pre_2fa_auth_user_id":7})")).what ==
          outcome::no_credentials);
    CHECK(run(make(), "_app_session=").what == outcome::no_credentials);
}

TEST_CASE("the user comes from the configured session key") {
    const auto r = run(make(), "a=1; _app_session=" + t::gcm_cookie(skb, R"({"pre_2fa_auth_user_id":7})") + "; b=2");
    CHECK(r.what == outcome::ok);
    CHECK(r.user == "7");
}

TEST_CASE("the fallback key is used only when configured and the main key is absent") {
    const auto cookie = "_app_session=" + t::gcm_cookie(skb, R"({"user_id":"12"})");
    CHECK(run(make(), cookie).why == gw::auth::reason::missing_key);
    CHECK(run(make("user_id"), cookie).user == "12");
    const auto both = "_app_session=" + t::gcm_cookie(skb, R"({"pre_2fa_auth_user_id":7,"user_id":12})");
    CHECK(run(make("user_id"), both).user == "7");
}

TEST_CASE("a cookie that fails to decode is invalid with the decoder's reason") {
    const auto r = run(make(), "_app_session=" + t::gcm_cookie(std::string(128, 'c'), R"({"pre_2fa_auth_user_id":7})"));
    CHECK(r.what == outcome::invalid);
    CHECK(r.why == gw::auth::reason::bad_signature);
    CHECK(run(make(), "_app_session=garbage").why == gw::auth::reason::malformed);
}

TEST_CASE("an empty session key name is refused at construction") {
    CHECK_THROWS_AS(rails_session_auth(skb, "_app_session", "", "", ""), std::invalid_argument);
}
