// Several credentials at once and their rotation: every mode accepts any configured
// key, the chain re-reads its files on reload() (all or nothing), and a reload while
// other threads authenticate never gives them a half-built key set.
#include "auth/auth_chain.hpp"
#include "auth/jwt_auth.hpp"
#include "auth/jwt_verifier.hpp"
#include "auth/proxy_header.hpp"
#include "auth/rails_session_auth.hpp"

#include "auth_test_support.hpp"
#include "config.hpp"
#include "log.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>

using namespace gw;
using namespace gw::auth;
namespace t = gw::auth::test;

namespace {

constexpr std::int64_t now = 1700000000;
const std::string claims = R"({"sub":"7","exp":1700000300})";
const std::string hs_old = "old-secret-old-secret-old-secret-0001";
const std::string hs_new = "new-secret-new-secret-new-secret-0002";
const std::string skb_old(128, 'o');
const std::string skb_new(128, 'n');

jwt_verifier with_keys(std::vector<jwt_key> keys) {
    jwt_verifier::options o;
    o.alg.clear();
    o.keys = std::move(keys);
    return jwt_verifier(std::move(o));
}

// The public key of kp (shared, not copied) under kid.
jwt_key keyed(const t::key_pair& kp, jwt_alg alg, std::string kid) {
    EVP_PKEY_up_ref(kp.key.get());
    return jwt_key::from_public_key(alg, kp.key.get(), std::move(kid));
}

std::string hs(const std::string& header, const std::string& secret) {
    return t::hs256_token(header, claims, secret);
}

// Without exp, for the chain, which reads the real clock.
std::string hs_token(const std::string& secret) {
    return t::hs256_token(R"({"alg":"HS256"})", R"({"sub":"7"})", secret);
}

request_context ctx(const http::fields& f, std::string_view target = "/authy/live_status") {
    return request_context{f, target, net::ip::make_address("127.0.0.1")};
}

// Through a mode or a whole chain: the user header with the given secret.
auth_result proxy_run(const auto& a, const std::string& secret) {
    http::fields f;
    f.set("X-User-Id", "42");
    f.set("X-Gateway-Secret", secret);
    return a.authenticate(ctx(f));
}

auth_result token_run(const auth_chain& chain, const std::string& token) {
    http::fields f;
    return chain.authenticate(ctx(f, "/authy/live_status?access_token=" + token));
}

auth_result cookie_run(const auth_chain& chain, const std::string& skb) {
    http::fields f;
    f.set(http::field::cookie, "_app_session=" + t::gcm_cookie(skb, R"({"pre_2fa_auth_user_id":7})"));
    return chain.authenticate(ctx(f));
}

}  // namespace

TEST_CASE("a verifier with several HS256 secrets accepts a token made with any of them") {
    const auto v = with_keys({jwt_key::hmac(hs_new), jwt_key::hmac(hs_old)});
    CHECK(v.verify(hs(R"({"alg":"HS256"})", hs_new), now).user == "7");
    CHECK(v.verify(hs(R"({"alg":"HS256"})", hs_old), now).user == "7");
    CHECK(v.verify(hs(R"({"alg":"HS256"})", hs_old + "x"), now).why == gw::auth::reason::bad_signature);
}

TEST_CASE("a kid picks the keys that carry it; an unknown kid falls back to keys without one") {
    const auto a = t::make_key(true);
    const auto b = t::make_key(true);
    const auto plain = t::make_key(true);
    const auto v =
        with_keys({keyed(a, jwt_alg::rs256, "a"), keyed(b, jwt_alg::rs256, "b"), keyed(plain, jwt_alg::rs256, "")});

    auto r = v.verify(t::pk_token(b, false, R"({"alg":"RS256","kid":"b"})", claims), now);
    CHECK(r.user == "7");
    CHECK_FALSE(r.unknown_kid);
    // The kid selects: b's token under a's kid is not tried with b's key.
    r = v.verify(t::pk_token(b, false, R"({"alg":"RS256","kid":"a"})", claims), now);
    CHECK(r.why == gw::auth::reason::bad_signature);
    CHECK_FALSE(r.unknown_kid);
    // No kid: every RS256 key is tried.
    CHECK(v.verify(t::pk_token(a, false, R"({"alg":"RS256"})", claims), now).user == "7");
    CHECK(v.verify(t::pk_token(plain, false, R"({"alg":"RS256"})", claims), now).user == "7");
    // An unknown kid is tried with the kid-less key only; refused, it says so.
    r = v.verify(t::pk_token(plain, false, R"({"alg":"RS256","kid":"zz"})", claims), now);
    CHECK(r.user == "7");
    CHECK_FALSE(r.unknown_kid);
    r = v.verify(t::pk_token(a, false, R"({"alg":"RS256","kid":"zz"})", claims), now);
    CHECK(r.why == gw::auth::reason::bad_signature);
    CHECK(r.unknown_kid);
    // A kid that is not a string is malformed.
    CHECK(v.verify(t::pk_token(a, false, R"({"alg":"RS256","kid":1})", claims), now).why == gw::auth::reason::malformed);
}

TEST_CASE("with only kid-carrying keys, an unknown kid is refused as unknown_kid") {
    const auto a = t::make_key(false);
    const auto v = with_keys({keyed(a, jwt_alg::es256, "a")});
    const auto r = v.verify(t::pk_token(a, true, R"({"alg":"ES256","kid":"new"})", claims), now);
    CHECK(r.why == gw::auth::reason::unknown_kid);
    CHECK(r.unknown_kid);
}

TEST_CASE("a token is checked only with keys of its own algorithm, whatever else is configured") {
    const auto rsa = t::make_key(true);
    const auto ec = t::make_key(false);
    const auto v = with_keys({keyed(rsa, jwt_alg::rs256, "r"), keyed(ec, jwt_alg::es256, "e")});
    // HS256 "signed" with the RSA public key PEM: no HS256 key, so bad_alg.
    CHECK(v.verify(hs(R"({"alg":"HS256","kid":"r"})", rsa.public_pem), now).why == gw::auth::reason::bad_alg);
    // An RS256 token naming the EC key's kid finds no RS256 key with that kid.
    CHECK(v.verify(t::pk_token(rsa, false, R"({"alg":"RS256","kid":"e"})", claims), now).why == gw::auth::reason::unknown_kid);
    CHECK(v.verify(t::pk_token(ec, true, R"({"alg":"ES256","kid":"e"})", claims), now).user == "7");
    CHECK(with_keys({}).verify(hs(R"({"alg":"HS256"})", hs_new), now).why == gw::auth::reason::bad_alg);
}

TEST_CASE("a PEM text may hold several keys; anything but public keys and certificates is refused") {
    const auto a = t::make_key(true);
    const auto b = t::make_key(true);
    const auto keys = jwt_key::from_pem(jwt_alg::rs256, "# current\n" + b.public_pem + "\n# previous\n" + a.public_pem);
    REQUIRE(keys.size() == 2);
    const auto v = with_keys(keys);
    CHECK(v.verify(t::pk_token(a, false, R"({"alg":"RS256"})", claims), now).user == "7");
    CHECK(v.verify(t::pk_token(b, false, R"({"alg":"RS256"})", claims), now).user == "7");

    CHECK_THROWS_AS(jwt_key::from_pem(jwt_alg::rs256, "no PEM here"), std::invalid_argument);
    CHECK_THROWS_AS(jwt_key::from_pem(jwt_alg::es256, a.public_pem), std::invalid_argument);
    CHECK_THROWS_AS(jwt_key::from_pem(jwt_alg::hs256, a.public_pem), std::invalid_argument);
    const std::string private_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    CHECK_THROWS_AS(jwt_key::from_pem(jwt_alg::rs256, a.public_pem + private_pem), std::invalid_argument);
    // A damaged second block must not leave it out quietly.
    auto damaged = b.public_pem;
    damaged.erase(damaged.find("-----END"));
    CHECK_THROWS_AS(jwt_key::from_pem(jwt_alg::rs256, a.public_pem + damaged), std::invalid_argument);
}

TEST_CASE("the proxy-header mode accepts any configured secret, and a new set replaces the old whole") {
    proxy_header p("X-User-Id", "X-Gateway-Secret", std::vector<std::string>{"proxy-new-0123456789abcdefghijklmnop", "proxy-old-0123456789abcdefghijklmnop"}, {});
    CHECK(proxy_run(p, "proxy-new-0123456789abcdefghijklmnop").user == "42");
    CHECK(proxy_run(p, "proxy-old-0123456789abcdefghijklmnop").user == "42");
    CHECK(proxy_run(p, "proxy-").why == gw::auth::reason::bad_secret);
    p.set_secrets({"proxy-newer-0123456789abcdefghijklmnop", "proxy-new-0123456789abcdefghijklmnop"});
    CHECK(proxy_run(p, "proxy-newer-0123456789abcdefghijklmnop").user == "42");
    CHECK(proxy_run(p, "proxy-new-0123456789abcdefghijklmnop").user == "42");
    CHECK(proxy_run(p, "proxy-old-0123456789abcdefghijklmnop").why == gw::auth::reason::bad_secret);
    // A rotation never turns the secret check off.
    CHECK_THROWS_AS(p.set_secrets({}), std::invalid_argument);
    CHECK_THROWS_AS(p.set_secrets({"x", ""}), std::invalid_argument);
    CHECK(proxy_run(p, "proxy-newer-0123456789abcdefghijklmnop").user == "42");
}

TEST_CASE("the rails-session mode reads cookies made with any configured secret_key_base") {
    rails_session_auth r(std::vector<std::string>{skb_new, skb_old}, "_app_session", "", "pre_2fa_auth_user_id", "");
    auto run = [&](const std::string& skb) {
        http::fields f;
        f.set(http::field::cookie, "_app_session=" + t::gcm_cookie(skb, R"({"pre_2fa_auth_user_id":7})"));
        return r.authenticate_at(ctx(f), now);
    };
    CHECK(run(skb_new).user == "7");
    CHECK(run(skb_old).user == "7");
    CHECK(run(std::string(128, 'x')).why == gw::auth::reason::bad_signature);
    r.set_decoder(r.decoder_for({skb_new}));
    CHECK(run(skb_new).user == "7");
    CHECK(run(skb_old).why == gw::auth::reason::bad_signature);
    CHECK_THROWS_AS(r.decoder_for({}), std::invalid_argument);
    CHECK_THROWS_AS(r.decoder_for({skb_new, ""}), std::invalid_argument);
}

TEST_CASE("reload() re-reads every credential file and puts the new sets in force") {
    log::set_level(log_level::error);  // the reload's info lines
    const t::temp_dir dir;
    const auto rsa_old = t::make_key(true);
    const auto rsa_new = t::make_key(true);
    config c;
    c.auth_modes = {"proxy-header", "jwt", "rails-session"};
    c.proxy_secret_file = dir.write("proxy", "proxy-old-0123456789abcdefghijklmnop\n");
    c.jwt_alg = "RS256";
    c.jwt_public_key = dir.path() + "/keys";
    dir.write("keys/old.pem", rsa_old.public_pem);
    c.rails_secret_key_base_file = dir.write("skb", skb_old + "\n");
    c.rails_cookie = "_app_session";
    auth_chain chain(c);

    const auto old_token = t::pk_token(rsa_old, false, R"({"alg":"RS256"})", R"({"sub":"7"})");
    const auto new_token = t::pk_token(rsa_new, false, R"({"alg":"RS256"})", R"({"sub":"7"})");
    // Whether each mode accepts the old and the new credential.
    auto accepts = [&](bool old_ok, bool new_ok) {
        CHECK((proxy_run(chain, "proxy-old-0123456789abcdefghijklmnop").what == outcome::ok) == old_ok);
        CHECK((proxy_run(chain, "proxy-new-0123456789abcdefghijklmnop").what == outcome::ok) == new_ok);
        CHECK((token_run(chain, old_token).what == outcome::ok) == old_ok);
        CHECK((token_run(chain, new_token).what == outcome::ok) == new_ok);
        CHECK((cookie_run(chain, skb_old).what == outcome::ok) == old_ok);
        CHECK((cookie_run(chain, skb_new).what == outcome::ok) == new_ok);
    };
    accepts(true, false);

    // Step 1 of a rotation: add the new credential next to the old one.
    dir.write("proxy", "proxy-new-0123456789abcdefghijklmnop\nproxy-old-0123456789abcdefghijklmnop\n");
    dir.write("keys/new.pem", rsa_new.public_pem);
    dir.write("skb", skb_new + "\n" + skb_old + "\n");
    REQUIRE(chain.reload().ok);
    accepts(true, true);

    // Step 3: remove the old one.
    dir.write("proxy", "proxy-new-0123456789abcdefghijklmnop\n");
    std::filesystem::remove(dir.path() + "/keys/old.pem");
    dir.write("skb", skb_new + "\n");
    REQUIRE(chain.reload().ok);
    accepts(false, true);
    CHECK(token_run(chain, old_token).why == gw::auth::reason::bad_signature);

    metrics::exposition m;
    chain.write_metrics(m);
    CHECK(m.text().find("sse_gateway_config_reloads_total{result=\"ok\"} 2\n") != std::string::npos);
    CHECK(m.text().find("sse_gateway_config_reloads_total{result=\"failed\"} 0\n") != std::string::npos);
    CHECK(m.text().find("sse_gateway_auth_keys{mode=\"jwt\"} 1\n") != std::string::npos);
}

TEST_CASE("a reload that fails anywhere changes nothing and says why without the secret") {
    log::set_level(log_level::error);
    const t::temp_dir dir;
    config c;
    c.auth_modes = {"proxy-header", "jwt", "rails-session"};
    c.proxy_secret_file = dir.write("proxy", "proxy-old-0123456789abcdefghijklmnop\n");
    c.jwt_secret_file = dir.write("jwt", hs_old + "\n");
    c.rails_secret_key_base_file = dir.write("skb", skb_old + "\n");
    c.rails_cookie = "_app_session";
    auth_chain chain(c);

    // The proxy and rails files are good, but one JWT secret is too short: no mode changes.
    dir.write("proxy", "proxy-new-0123456789abcdefghijklmnop\n");
    dir.write("skb", skb_new + "\n");
    dir.write("jwt", hs_new + "\nshort-secret-value\n");
    auto r = chain.reload();
    CHECK_FALSE(r.ok);
    CHECK(r.error.find("--jwt-secret-file") != std::string::npos);
    CHECK(r.error.find("line 2 is shorter than the 32 bytes") != std::string::npos);
    CHECK(r.error.find("short-secret-value") == std::string::npos);
    CHECK(r.error.find(hs_new) == std::string::npos);
    CHECK(proxy_run(chain, "proxy-old-0123456789abcdefghijklmnop").user == "42");
    CHECK(proxy_run(chain, "proxy-new-0123456789abcdefghijklmnop").why == gw::auth::reason::bad_secret);
    CHECK(token_run(chain, hs_token(hs_old)).user == "7");
    CHECK(cookie_run(chain, skb_old).user == "7");

    // A file that went missing, or holds nothing, fails the same way.
    std::filesystem::remove(dir.path() + "/jwt");
    CHECK(chain.reload().error.find("cannot read") != std::string::npos);
    dir.write("jwt", "\n\n");
    CHECK(chain.reload().error.find("holds no secret") != std::string::npos);
    CHECK(token_run(chain, hs_token(hs_old)).user == "7");

    metrics::exposition m;
    chain.write_metrics(m);
    CHECK(m.text().find("sse_gateway_config_reloads_total{result=\"failed\"} 3\n") != std::string::npos);
}

TEST_CASE("a JWKS file is a key source of its own, re-read on reload") {
    log::set_level(log_level::error);
    const t::temp_dir dir;
    const auto a = t::make_key(false);
    const auto b = t::make_key(false);
    config c;
    c.auth_modes = {"jwt"};
    c.jwt_jwks = dir.write("jwks.json", R"({"keys":[)" + t::jwk(a, false, "a") + "]}");
    auth_chain chain(c);  // HS256 by default, yet no --jwt-secret is needed with a JWKS
    const auto ta = t::pk_token(a, true, R"({"alg":"ES256","kid":"a"})", R"({"sub":"7"})");
    const auto tb = t::pk_token(b, true, R"({"alg":"ES256","kid":"b"})", R"({"sub":"7"})");
    CHECK(token_run(chain, ta).user == "7");
    CHECK(token_run(chain, tb).why == gw::auth::reason::unknown_kid);

    dir.write("jwks.json", R"({"keys":[)" + t::jwk(b, false, "b") + "," + t::jwk(a, false, "a") + "]}");
    REQUIRE(chain.reload().ok);
    CHECK(token_run(chain, tb).user == "7");
    dir.write("jwks.json", R"({"keys":[)");
    const auto r = chain.reload();
    CHECK(r.error == "--jwt-jwks '" + dir.path() + "/jwks.json': not a JSON object");
    CHECK(token_run(chain, ta).user == "7");
    CHECK(token_run(chain, tb).user == "7");
}

TEST_CASE("threads authenticating while the keys rotate always see a whole key set") {
    log::set_level(log_level::error);
    const t::temp_dir dir;
    config c;
    c.auth_modes = {"jwt"};
    c.jwt_secret_file = dir.write("jwt", hs_new + "\n" + hs_old + "\n");
    auth_chain chain(c);
    const auto token = hs_token(hs_old);
    std::atomic<bool> stop{false};
    std::atomic<int> refused{0}, checked{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < 3; ++i)
        readers.emplace_back([&] {
            while (!stop.load()) {
                if (token_run(chain, token).what != outcome::ok) ++refused;
                ++checked;
            }
        });
    // The old secret is in every set published: in whichever order the file lists it.
    for (int i = 0; i < 200; ++i) {
        dir.write("jwt", i % 2 ? hs_new + "\n" + hs_old + "\n" : hs_old + "\n" + hs_new + "\n");
        REQUIRE(chain.reload().ok);
    }
    stop = true;
    for (auto& r : readers) r.join();
    CHECK(checked.load() > 0);
    CHECK(refused.load() == 0);
}
