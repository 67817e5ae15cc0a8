#include "auth/auth_chain.hpp"

#include "auth_test_support.hpp"
#include "config.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace gw;
using namespace gw::auth;
namespace t = gw::auth::test;

namespace {

config jwt_config() {
    config c;
    c.auth_modes = {"jwt"};
    c.jwt_secret = "unit-test-secret-that-is-32-bytes-long!";
    return c;
}

config rails_config() {
    config c;
    c.auth_modes = {"rails-session"};
    c.rails_secret_key_base = std::string(128, 'b');
    c.rails_cookie = "_app_session";
    return c;
}

std::string error_of(const config& c) {
    try {
        auth_chain chain(c);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return {};
}

}  // namespace

TEST_CASE("jwt mode with HS256 needs a secret of at least 32 bytes") {
    CHECK(error_of(jwt_config()).empty());
    auto c = jwt_config();
    c.jwt_secret.clear();
    CHECK(error_of(c).find("--jwt-secret") != std::string::npos);
    c.jwt_secret = "short";
    CHECK(error_of(c).find("32 bytes") != std::string::npos);
    CHECK(error_of(c).find("short") == std::string::npos);  // never echo the secret
}

TEST_CASE("jwt mode with RS256 or ES256 needs a readable PEM public key of the right type") {
    auto c = jwt_config();
    c.jwt_alg = "RS256";
    CHECK(error_of(c).find("--jwt-public-key") != std::string::npos);
    c.jwt_public_key = "/nonexistent/key.pem";
    CHECK(error_of(c).find("cannot read") != std::string::npos);

    const t::temp_dir dir;
    const auto rsa = dir.write("rsa.pem", t::make_key(true).public_pem);
    const auto ec = dir.write("ec.pem", t::make_key(false).public_pem);
    c.jwt_public_key = rsa;
    CHECK(error_of(c).empty());
    c.jwt_alg = "ES256";
    CHECK(error_of(c).find("P-256") != std::string::npos);
    c.jwt_public_key = ec;
    CHECK(error_of(c).empty());
    c.jwt_alg = "none";
    CHECK(error_of(c).find("--jwt-alg") != std::string::npos);
}

TEST_CASE("rails-session mode needs a secret_key_base, a cookie name and a known digest") {
    CHECK(error_of(rails_config()).empty());
    auto c = rails_config();
    c.rails_secret_key_base.clear();
    CHECK(error_of(c).find("--rails-secret-key-base") != std::string::npos);
    c = rails_config();
    c.rails_cookie.clear();
    CHECK(error_of(c).find("--rails-cookie") != std::string::npos);
    c = rails_config();
    c.rails_key_digest = "md5";
    CHECK(error_of(c).find("sha1 or sha256") != std::string::npos);
}

TEST_CASE("errors are one line") {
    auto c = jwt_config();
    c.jwt_alg = "RS256";
    c.jwt_public_key = "/nonexistent/key.pem";
    CHECK(error_of(c).find('\n') == std::string::npos);
}

TEST_CASE("jwt and rails-session modes can be chained in order") {
    auto c = rails_config();
    c.auth_modes = {"jwt", "rails-session"};
    c.jwt_secret = jwt_config().jwt_secret;
    const auth_chain chain(c);
    http::fields f;
    f.set(http::field::cookie,
          "_app_session=" + t::gcm_cookie(c.rails_secret_key_base, R"({"pre_2fa_auth_user_id":7})"));
    const auto r = chain.authenticate(request_context{f, "/authy/live_status", net::ip::make_address("127.0.0.1")});
    CHECK(r.what == outcome::ok);
    CHECK(r.user == "7");

    http::fields none;
    const auto n = chain.authenticate(request_context{none, "/authy/live_status", net::ip::make_address("127.0.0.1")});
    CHECK(n.what == outcome::no_credentials);

    const auto bad = chain.authenticate(
        request_context{none, "/authy/live_status?access_token=x.y.z", net::ip::make_address("127.0.0.1")});
    CHECK(bad.what == outcome::invalid);
    CHECK(bad.why == gw::auth::reason::malformed);
}
