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
    c.jwt_secret = "tiny-value";
    CHECK(error_of(c).find("32 bytes") != std::string::npos);
    CHECK(error_of(c).find("tiny-value") == std::string::npos);  // never echo the secret
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

TEST_CASE("every secret follows its kind's length rule, from a flag or from each line of its file") {
    const t::temp_dir dir;
    const std::string p32(32, 'p'), h32(32, 'h'), r30(30, 'r');
    struct kind {
        std::string mode, flag, file_flag;
        std::string config::*value;
        std::string config::*file;
        std::size_t min;
    };
    const std::vector<kind> kinds = {
        {"proxy-header", "--proxy-secret", "--proxy-secret-file", &config::proxy_secret, &config::proxy_secret_file, 32},
        {"jwt", "--jwt-secret", "--jwt-secret-file", &config::jwt_secret, &config::jwt_secret_file, 32},
        {"rails-session", "--rails-secret-key-base", "--rails-secret-key-base-file", &config::rails_secret_key_base,
         &config::rails_secret_key_base_file, 30},
    };
    for (const auto& k : kinds) {
        INFO(k.flag);
        config c;
        c.auth_modes = {k.mode};
        c.rails_cookie = "_app_session";
        c.*(k.value) = std::string(k.min, 's');
        CHECK(error_of(c).empty());
        c.*(k.value) = std::string(k.min - 1, 's');
        CHECK(error_of(c) == k.flag + " is shorter than the " + std::to_string(k.min) + " bytes " +
                                 (k.min == 30 ? "a secret_key_base" : k.mode == "jwt" ? "an HS256 secret" : "a proxy secret") +
                                 " needs");
        c.*(k.value) = "";
        const auto path = dir.write(k.mode, "# the current one, rotated 2026-01-01:\n" + std::string(k.min, 'a') +
                                                "\n\n" + std::string(k.min - 1, 'b') + "\n");
        c.*(k.file) = path;
        const auto e = error_of(c);
        CHECK(e.find(k.file_flag + ": '" + path + "' line 4 is shorter than the " + std::to_string(k.min)) == 0);
        CHECK(e.find(std::string(k.min - 1, 'b')) == std::string::npos);
        dir.write(k.mode, "# a comment line of more than thirty-two bytes is no secret\n" + std::string(k.min, 'a') + "\n");
        CHECK(error_of(c).empty());
    }
}

TEST_CASE("a comment line in a secrets file never becomes a key") {
    const t::temp_dir dir;
    const std::string sentence = "# rotated 2026-01-01, remove the old one after the deploy";
    auto c = jwt_config();
    c.jwt_secret.clear();
    c.jwt_secret_file = dir.write("jwt", sentence + "\n" + std::string(40, 'k') + "\n");
    auth_chain chain(c);
    http::fields f;
    f.set(http::field::authorization,
          "Bearer " + t::hs256_token(R"({"alg":"HS256"})", R"({"sub":"7"})", sentence));
    CHECK(chain.authenticate(request_context{f, "/", net::ip::make_address("127.0.0.1")}).why == reason::bad_signature);
    f.set(http::field::authorization,
          "Bearer " + t::hs256_token(R"({"alg":"HS256"})", R"({"sub":"7"})", std::string(40, 'k')));
    CHECK(chain.authenticate(request_context{f, "/", net::ip::make_address("127.0.0.1")}).user == "7");
}

TEST_CASE("an http JWKS URL to another host is refused unless --jwt-jwks-allow-http") {
    config c;
    c.auth_modes = {"jwt"};
    c.jwt_alg = "RS256";
    c.jwt_jwks_url = "http://jwks.example.com/keys";
    CHECK(error_of(c).find("--jwt-jwks-allow-http") != std::string::npos);
    c.jwt_jwks_allow_http = true;
    CHECK(error_of(c).empty());
    c.jwt_jwks_allow_http = false;
    c.jwt_jwks_url = "http://localhost:9/keys";
    CHECK(error_of(c).empty());
}
