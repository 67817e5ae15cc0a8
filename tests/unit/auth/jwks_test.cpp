#include "auth/jwks.hpp"
#include "auth/jwks_fetcher.hpp"
#include "auth/jwt_verifier.hpp"

#include "auth_test_support.hpp"
#include "base64.hpp"

#include <catch2/catch.hpp>
#include <openssl/param_build.h>
#include <openssl/rand.h>

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

// An RSA public key with any modulus and exponent, as a hostile key set carries one.
std::string rsa_jwk(const std::string& n, const std::string& e, std::string_view kid) {
    return R"({"kty":"RSA","use":"sig","alg":"RS256","kid":")" + std::string(kid) + R"(","n":")" + t::b64url(n) +
           R"(","e":")" + t::b64url(e) + "\"}";
}

// A random odd number of `bits` bits (a multiple of 8), big-endian.
std::string random_odd(std::size_t bits) {
    std::string out(bits / 8, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
    out.front() = static_cast<char>(out.front() | 0x80);
    out.back() = static_cast<char>(out.back() | 1);
    return out;
}

std::string be32(std::uint64_t v, std::size_t bytes) {
    std::string out(bytes, '\0');
    for (std::size_t i = 0; i < bytes; ++i) out[bytes - 1 - i] = static_cast<char>((v >> (8 * i)) & 0xff);
    return out;
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
    CHECK(set.skipped == 8);
    // Meant for us but unsound: refused (logged and counted by the caller).
    REQUIRE(set.refused.size() == 2);
    CHECK(set.refused[0].kid == "short");
    CHECK(set.refused[0].why == "RS256 public key is shorter than 2048 bits");
    CHECK(set.refused[1].kid == "no-n");
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
    CHECK(error_of(R"({"keys":[]})") == "no usable RS256 or ES256 signing key (0 skipped, 0 refused)");
    const auto only_short = set_of({t::jwk(t::make_key(true, 1024), true, "short")});
    CHECK(error_of(only_short) == "no usable RS256 or ES256 signing key (0 skipped, 1 refused)");
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

TEST_CASE("RSA keys with an exponent below 3, even or past 32 bits, or a modulus outside 2048..8192 bits are refused") {
    const auto good = t::make_key(true);
    const auto n = random_odd(2048);
    const auto set = parse_jwks(set_of({
        t::jwk(good, true, "good"),
        rsa_jwk(n, "\x01", "e1"),                        // a signature would be its own message
        rsa_jwk(n, "\x02", "e2"),                        // even
        rsa_jwk(n, be32(65536, 3), "e65536"),             // even
        rsa_jwk(n, be32((1ULL << 32) + 1, 5), "e2^32+1"),  // past 32 bits
        rsa_jwk(n, random_odd(3000), "e3000bits"),       // the costly one of the review
        rsa_jwk(random_odd(8200), "\x01\x00\x01", "n8200"),
        rsa_jwk(random_odd(16384), "\x01\x00\x01", "n16384"),
        rsa_jwk(random_odd(2040), "\x01\x00\x01", "n2040"),
        rsa_jwk(n, "\x03", "e3"),                        // the smallest sound exponent
        rsa_jwk(random_odd(8192), be32((1ULL << 32) - 1, 4), "n8192-emax"),
    }));
    std::vector<std::string> refused, kept;
    for (const auto& r : set.refused) refused.push_back(r.kid);
    for (const auto& k : set.keys) kept.push_back(k.kid());
    CHECK(refused == std::vector<std::string>{"e1", "e2", "e65536", "e2^32+1", "e3000bits", "n8200", "n16384", "n2040"});
    CHECK(kept == std::vector<std::string>{"good", "e3", "n8192-emax"});
    CHECK(set.refused[0].why == "RS256 public key's exponent is not odd, at least 3 and below 2^32");
    CHECK(set.refused[6].why == "RS256 public key is longer than 8192 bits");
}

TEST_CASE("a PEM RSA key with e = 1 is refused like a JWKS one") {
    // OpenSSL builds such a key without a word; only the gateway's check stops it.
    const auto n = random_odd(2048);
    BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr);
    BIGNUM* bn_e = BN_new();
    BN_set_word(bn_e, 1);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    EVP_PKEY* pkey = nullptr;
    REQUIRE(EVP_PKEY_fromdata_init(ctx) == 1);
    REQUIRE(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey);
    char* data = nullptr;
    const std::string pem(data, static_cast<std::size_t>(BIO_get_mem_data(bio, &data)));
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    try {
        jwt_key::from_pem(jwt_alg::rs256, pem);
        FAIL("an e = 1 key was accepted");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()) == "RS256 public key's exponent is not odd, at least 3 and below 2^32");
    }
}

TEST_CASE("a kid given twice in a set keeps its first key; the others are refused") {
    const auto first = t::make_key(true);
    const auto other = t::make_key(true);
    const auto set = parse_jwks(set_of({t::jwk(first, true, "dup"), t::jwk(other, true, "dup"),
                                        rsa_jwk(random_odd(3072), "\x01\x00\x01", "dup"),
                                        t::jwk(t::make_key(false), false, "dup")}));  // ES256 may share it
    REQUIRE(set.keys.size() == 2);
    REQUIRE(set.refused.size() == 2);
    CHECK(set.refused[0].why == "an earlier key of the set carries its kid");
    const auto v = verifier(set.keys);
    CHECK(v.verify(t::pk_token(first, false, R"({"alg":"RS256","kid":"dup"})", claims), now).user == "7");
    CHECK(v.verify(t::pk_token(other, false, R"({"alg":"RS256","kid":"dup"})", claims), now).why ==
          reason::bad_signature);
}

TEST_CASE("one token checks its signature with at most max_keys_tried keys") {
    std::vector<jwt_key> keys;
    std::vector<std::string> secrets;
    for (std::size_t i = 0; i <= jwt_verifier::max_keys_tried; ++i) {
        secrets.push_back("secret-number-" + std::to_string(i) + "-of-a-long-list-of-them");
        keys.push_back(jwt_key::hmac(secrets.back()));
    }
    const auto v = verifier(keys);
    const auto token = [&](std::size_t i) { return t::hs256_token(R"({"alg":"HS256"})", claims, secrets[i]); };
    CHECK(v.verify(token(jwt_verifier::max_keys_tried - 1), now).user == "7");
    CHECK(v.verify(token(jwt_verifier::max_keys_tried), now).why == reason::bad_signature);
}

TEST_CASE("a JWKS URL over plain http must name loopback unless allowed") {
    CHECK(is_loopback("localhost"));
    CHECK(is_loopback("LOCALHOST"));
    CHECK(is_loopback("127.0.0.1"));
    CHECK(is_loopback("127.200.0.9"));
    CHECK(is_loopback("::1"));
    CHECK_FALSE(is_loopback("localhost.example.com"));
    CHECK_FALSE(is_loopback("10.0.0.1"));
    CHECK_FALSE(is_loopback("::ffff:10.0.0.1"));
    CHECK_FALSE(is_loopback("jwks.example.com"));

    gw::net::io_context ioc;
    auto make = [&](std::string url, jwks_fetcher::plain_http_policy p) {
        jwks_fetcher::settings s;
        s.url = std::move(url);
        s.plain_http = p;
        return std::make_unique<jwks_fetcher>(ioc, std::move(s), [](std::vector<jwt_key>) {});
    };
    using p = jwks_fetcher::plain_http_policy;
    try {
        make("http://jwks.example.com/keys", p::loopback_only);
        FAIL("plain http to another host was accepted");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("--jwt-jwks-allow-http") != std::string::npos);
    }
    CHECK(make("http://jwks.example.com/keys", p::allowed) != nullptr);
    CHECK(make("http://127.0.0.1:9/keys", p::loopback_only) != nullptr);
    CHECK(make("http://[::1]:9/keys", p::loopback_only) != nullptr);
    CHECK(make("https://jwks.example.com/keys", p::loopback_only) != nullptr);
}

TEST_CASE("an ES256 signature with a high S is accepted, as RELIABILITY.md documents") {
    // OpenSSL (and so PyJWT) does not normalise S: refusing n - S would refuse about
    // half of the tokens real issuers make, and nothing here keys on signature bytes.
    const auto ec = t::make_key(false);
    const auto token = t::pk_token(ec, true, R"({"alg":"ES256"})", claims);
    const auto dot = token.rfind('.');
    const auto sig = gw::base64_decode_unpadded(token.substr(dot + 1), gw::base64_alphabet::url);
    REQUIRE(sig);
    BIGNUM* n = nullptr;
    BN_hex2bn(&n, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");  // the order of P-256
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig->data()) + 32, 32, nullptr);
    BN_sub(s, n, s);
    std::string flipped = *sig;
    BN_bn2binpad(s, reinterpret_cast<unsigned char*>(flipped.data()) + 32, 32);
    BN_free(n);
    BN_free(s);
    REQUIRE(flipped != *sig);
    const auto v = verifier({jwt_key::from_pem(jwt_alg::es256, ec.public_pem)});
    CHECK(v.verify(token, now).user == "7");
    CHECK(v.verify(token.substr(0, dot + 1) + t::b64url(flipped), now).user == "7");
}
