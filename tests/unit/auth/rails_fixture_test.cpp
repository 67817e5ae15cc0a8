// Session cookies encrypted by Debian's ruby-activesupport
// (tests/support/make_auth_fixtures.sh).
#include "auth/rails_session_auth.hpp"

#include "fixture_support.hpp"

#include <catch2/catch.hpp>

#include <initializer_list>

using namespace gw;
using namespace gw::auth;
namespace t = gw::auth::test;

namespace {

int run_cases(std::initializer_list<const char*> prefixes) {
    rapidjson::Document doc;
    const auto& cases = t::fixture_cases(doc, "rails_cases.json");
    int ran = 0;
    for (const auto& c : cases.GetArray()) {
        const auto name = t::str(c, "name");
        if (!t::starts_with_any(name, prefixes)) continue;
        ++ran;
        INFO("case " << name);
        const auto& keys = c["keys"];
        const rails_session_auth mode(t::str(c, "secret_key_base"), t::str(c, "cookie_name"), t::str(c, "key_digest"),
                                      keys[0].GetString(), keys.Size() > 1 ? keys[1].GetString() : "");
        http::fields f;
        f.set(http::field::cookie, "theme=dark; " + t::str(c, "cookie_name") + "=" + t::str(c, "cookie") + "; x=1");
        const auto r = mode.authenticate(request_context{f, "/authy/live_status", net::ip::make_address("10.0.0.1")});
        const auto expect = t::str(c, "expect");
        if (expect == "ok") {
            CHECK(r.what == outcome::ok);
            CHECK(r.why == gw::auth::reason::none);
            CHECK(r.user == t::str(c, "user"));
        } else {
            CHECK(r.what == outcome::invalid);
            CHECK(r.user.empty());
            if (expect != "refused") CHECK(gw::auth::to_string(r.why) == expect);
        }
    }
    return ran;
}

}  // namespace

TEST_CASE("Rails 5.2+ AES-256-GCM session cookies made by ActiveSupport are accepted and tampering refused") {
    CHECK(run_cases({"gcm_"}) >= 20);
}

TEST_CASE("Rails 4.x-5.1 AES-256-CBC session cookies made by ActiveSupport are accepted and tampering refused") {
    CHECK(run_cases({"cbc_"}) >= 8);
}

TEST_CASE("every ActiveSupport fixture case is exercised") {
    rapidjson::Document doc;
    const auto& cases = t::fixture_cases(doc, "rails_cases.json");
    CHECK(run_cases({""}) == static_cast<int>(cases.Size()));
}
