#include "auth/auth_chain.hpp"
#include "auth/proxy_header.hpp"
#include "config.hpp"

#include <catch2/catch.hpp>

using namespace gw::auth;
namespace ip = boost::asio::ip;

namespace {

auth_result run(const authenticator& a, std::initializer_list<std::pair<const char*, const char*>> headers,
                const char* peer = "127.0.0.1") {
    gw::http::fields f;
    for (auto [k, v] : headers) f.set(k, v);
    return a.authenticate({f, "/authy/live_status", ip::make_address(peer)});
}

}  // namespace

TEST_CASE("the user header is trusted only with the right secret", "[proxy]") {
    proxy_header p("X-User-Id", "X-Gateway-Secret", "s3cret", {});
    auto ok = run(p, {{"X-User-Id", "42"}, {"X-Gateway-Secret", "s3cret"}});
    CHECK(ok.what == outcome::ok);
    CHECK(ok.user == "42");

    auto missing = run(p, {{"X-User-Id", "42"}});
    CHECK(missing.what == outcome::forbidden);
    CHECK(missing.why == reason::missing_secret);

    for (auto wrong : {"s3cre", "s3cret!", "S3CRET", ""}) {
        auto r = run(p, {{"X-User-Id", "42"}, {"X-Gateway-Secret", wrong}});
        CHECK(r.what == outcome::forbidden);
        CHECK(r.why == reason::bad_secret);
    }
}

TEST_CASE("a trusted proxy without a user header gets no identity", "[proxy]") {
    proxy_header p("X-User-Id", "X-Gateway-Secret", "s3cret", {});
    auto r = run(p, {{"X-Gateway-Secret", "s3cret"}});
    CHECK(r.what == outcome::no_credentials);
    CHECK(r.why == reason::missing_user);
    // An empty value (a proxy that forwards an unset variable) names nobody either;
    // it used to be accepted as the user "" (a fuzz finding).
    auto empty = run(p, {{"X-User-Id", ""}, {"X-Gateway-Secret", "s3cret"}});
    CHECK(empty.what == outcome::no_credentials);
    CHECK(empty.why == reason::missing_user);
    CHECK(empty.user.empty());
}

TEST_CASE("a request with neither proxy header is left to the other modes", "[proxy]") {
    proxy_header p("X-User-Id", "X-Gateway-Secret", "s3cret", network_list({"10.0.0.0/8"}));
    auto r = run(p, {{"Cookie", "a=b"}}, "127.0.0.1");
    CHECK(r.what == outcome::no_credentials);
    CHECK(r.why == reason::missing_credentials);
}

TEST_CASE("a repeated user or secret header is refused", "[proxy]") {
    proxy_header p("X-User-Id", "X-Gateway-Secret", "s3cret", {});
    gw::http::fields f;
    f.insert("X-User-Id", "42");
    f.insert("X-User-Id", "43");
    f.insert("X-Gateway-Secret", "s3cret");
    auto r = p.authenticate({f, "/", ip::make_address("127.0.0.1")});
    CHECK(r.what == outcome::forbidden);
    CHECK(r.why == reason::duplicate_header);
    gw::http::fields g;
    g.insert("X-User-Id", "42");
    g.insert("X-Gateway-Secret", "s3cret");
    g.insert("X-Gateway-Secret", "s3cret");
    CHECK(p.authenticate({g, "/", ip::make_address("127.0.0.1")}).why == reason::duplicate_header);
}

TEST_CASE("configured networks restrict where the header is trusted from", "[proxy]") {
    proxy_header p("X-User-Id", "X-Gateway-Secret", "s3cret", network_list({"10.0.0.0/8"}));
    CHECK(run(p, {{"X-User-Id", "1"}, {"X-Gateway-Secret", "s3cret"}}, "10.1.2.3").what == outcome::ok);
    auto r = run(p, {{"X-User-Id", "1"}, {"X-Gateway-Secret", "s3cret"}}, "127.0.0.1");
    CHECK(r.what == outcome::forbidden);
    CHECK(r.why == reason::untrusted_source);
}

TEST_CASE("the secret may be omitted only in the explicit insecure mode", "[proxy]") {
    gw::config c;
    CHECK_THROWS_WITH(auth_chain(c), Catch::Contains("--proxy-secret"));
    c.allow_insecure_proxy_header = true;
    auth_chain chain(c);
    gw::http::fields f;
    f.set("X-User-Id", "7");
    auto r = chain.authenticate({f, "/", ip::make_address("127.0.0.1")});
    CHECK(r.what == outcome::ok);
    CHECK(r.user == "7");
}

TEST_CASE("an unknown auth mode is a configuration error", "[proxy]") {
    gw::config c;
    c.auth_modes = {"telepathy"};
    CHECK_THROWS_WITH(auth_chain(c), Catch::Contains("telepathy"));
}

namespace {
struct fixed final : authenticator {
    auth_result r;
    explicit fixed(auth_result x) : r(std::move(x)) {}
    std::string_view name() const override { return "fixed"; }
    auth_result authenticate(const request_context&) const override { return r; }
};
auth_result chain_of(std::vector<auth_result> rs) {
    std::vector<std::unique_ptr<authenticator>> modes;
    for (auto& r : rs) modes.push_back(std::make_unique<fixed>(r));
    auth_chain chain(std::move(modes));
    gw::http::fields f;
    return chain.authenticate({f, "/", ip::make_address("127.0.0.1")});
}
}  // namespace

TEST_CASE("the chain takes the first mode that names a user", "[chain]") {
    auto r = chain_of({auth_result::none(reason::missing_user), auth_result::ok("5"), auth_result::ok("6")});
    CHECK(r.user == "5");
}

TEST_CASE("the chain answers the most telling refusal", "[chain]") {
    const auto a = reason::missing_token, b = reason::bad_secret, c = reason::expired, z = reason::missing_cookie;
    CHECK(chain_of({auth_result::none(a), auth_result::deny(b)}).why == b);
    CHECK(chain_of({auth_result::deny(b), auth_result::bad(c), auth_result::none(a)}).why == c);
    CHECK(chain_of({auth_result::none(a), auth_result::none(z)}).why == a);
}
