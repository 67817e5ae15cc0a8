#include "auth/rails_session.hpp"

#include "auth_test_support.hpp"
#include "small_stack.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

using gw::auth::rails_session;
namespace t = gw::auth::test;

namespace {

const std::string skb(128, 'b');
const std::string cookie_name = "_app_session";
constexpr std::int64_t now = 1700000000;  // 2023-11-14T22:13:20Z

rails_session decoder(std::string_view digest = "") {
    return rails_session(skb, cookie_name, digest);
}

std::string reason(std::string_view cookie, std::int64_t at = now) {
    return std::string(gw::auth::to_string(decoder().decode(cookie, at).why));
}

std::string envelope(const std::string& extra) {
    return R"({"_rails":{"message":")" + t::b64(R"({"user_id":5})") + "\"" + extra + "}}";
}

}  // namespace

TEST_CASE("standard base64 decoding is strict like Ruby's strict_decode64") {
    CHECK(rails_session::decode_base64("") == std::string());
    CHECK(rails_session::decode_base64("YQ==") == std::string("a"));
    CHECK(rails_session::decode_base64("YWI=") == std::string("ab"));
    CHECK(rails_session::decode_base64("YWJj") == std::string("abc"));
    CHECK(rails_session::decode_base64("+/8=") == std::string("\xfb\xff"));
    CHECK_FALSE(rails_session::decode_base64("YQ"));   // missing padding
    CHECK_FALSE(rails_session::decode_base64("YQ="));  // wrong padding
    CHECK_FALSE(rails_session::decode_base64("YQ==="));
    CHECK_FALSE(rails_session::decode_base64("Y==="));
    CHECK_FALSE(rails_session::decode_base64("=YQ="));
    CHECK_FALSE(rails_session::decode_base64("YQ==YWJj"));  // padding in the middle
    CHECK_FALSE(rails_session::decode_base64("-_8="));      // URL alphabet
    CHECK_FALSE(rails_session::decode_base64("YW\nJj"));
    CHECK_FALSE(rails_session::decode_base64("YR=="));  // non-zero leftover bits
}

TEST_CASE("ISO 8601 expiry times parse as Rails writes them") {
    CHECK(rails_session::parse_iso8601_ms("2023-11-14T22:13:20.000Z") == 1700000000000);
    CHECK(rails_session::parse_iso8601_ms("2023-11-14T22:13:20Z") == 1700000000000);
    CHECK(rails_session::parse_iso8601_ms("2023-11-14T22:13:20.5Z") == 1700000000500);
    CHECK(rails_session::parse_iso8601_ms("2023-11-14T22:13:20.123456Z") == 1700000000123);
    CHECK(rails_session::parse_iso8601_ms("2023-11-15T00:13:20.000+02:00") == 1700000000000);
    CHECK(rails_session::parse_iso8601_ms("2023-11-14T20:13:20-02:00") == 1700000000000);
    CHECK(rails_session::parse_iso8601_ms("1970-01-01T00:00:00Z") == 0);
    CHECK_FALSE(rails_session::parse_iso8601_ms("2023-02-30T00:00:00Z"));
    CHECK_FALSE(rails_session::parse_iso8601_ms("2023-11-14 22:13:20Z"));
    CHECK_FALSE(rails_session::parse_iso8601_ms("2023-11-14T22:13:20"));
    CHECK_FALSE(rails_session::parse_iso8601_ms("2023-11-14T24:13:20Z"));
    CHECK_FALSE(rails_session::parse_iso8601_ms("2023-11-14T22:13:20.Z"));
    CHECK_FALSE(rails_session::parse_iso8601_ms("tomorrow"));
    CHECK_FALSE(rails_session::parse_iso8601_ms(""));
}

TEST_CASE("a cookie that is not two or three base64 parts is malformed") {
    CHECK(reason("") == "malformed");
    CHECK(reason("garbage") == "malformed");
    CHECK(reason("----") == "malformed");
    CHECK(reason("a--b--c--d") == "malformed");
    CHECK(reason("YQ==--YQ==--YQ==") == "malformed");  // iv and tag of the wrong size
    CHECK(reason("--" + t::b64("0123456789ab") + "--" + t::b64(std::string(16, 't'))) == "bad_signature");
    CHECK(reason("YQ--" + t::b64("0123456789ab") + "--" + t::b64(std::string(16, 't'))) == "malformed");
    CHECK(reason("%zz") == "malformed");                            // bad percent escape
    CHECK(reason("YWJj--" + std::string(39, 'a')) == "malformed");  // digest neither SHA1 nor SHA256 sized
    CHECK(reason("YWJj--" + std::string(40, 'g')) == "malformed");  // digest not hex
    CHECK(reason("--" + std::string(40, 'a')) == "malformed");      // empty data
}

TEST_CASE("a cookie over 8 KiB is refused before it is decoded") {
    CHECK(reason(std::string(rails_session::max_cookie_size + 1, 'A')) == "too_large");
}

TEST_CASE("a GCM cookie with a wrong key or a flipped bit is refused") {
    const auto good = t::gcm_cookie(skb, R"({"user_id":5})");
    CHECK(decoder().decode(good, now).ok());
    CHECK(reason(t::gcm_cookie(std::string(128, 'c'), R"({"user_id":5})")) == "bad_signature");
    auto bad = good;
    bad[3] = bad[3] == 'A' ? 'B' : 'A';
    CHECK(reason(bad) == "bad_signature");
}

TEST_CASE("a legacy cookie with a wrong HMAC is refused before decryption") {
    const std::string data = t::b64(t::b64("ciphertext") + "--" + t::b64("0123456789abcdef"));
    CHECK(reason(t::url_escape(data + "--" + std::string(40, '0'))) == "bad_signature");
    CHECK(reason(t::url_escape(data + "--" + std::string(64, '0'))) == "bad_signature");
}

TEST_CASE("a legacy cookie with a valid HMAC but undecryptable data is decrypt_failed") {
    // Only the secret holder can produce this, so it is not an attack; it is still refused.
    const std::string sign_key = t::pbkdf2(skb, "signed encrypted cookie", EVP_sha1(), 64);
    const std::string data = t::b64(t::b64(std::string(32, 'x')) + "--" + t::b64("0123456789abcdef"));
    std::string hex;
    for (unsigned char c : t::hmac("SHA1", sign_key, data)) {
        static constexpr char digits[] = "0123456789abcdef";
        hex += {digits[c >> 4], digits[c & 15]};
    }
    CHECK(reason(t::url_escape(data + "--" + hex)) == "decrypt_failed");
}

TEST_CASE("the session must be a JSON object") {
    CHECK(reason(t::gcm_cookie(skb, R"([1,2])")) == "malformed");
    CHECK(reason(t::gcm_cookie(skb, R"("x")")) == "malformed");
    CHECK(reason(t::gcm_cookie(skb, "not json")) == "malformed");
    CHECK(reason(t::gcm_cookie(skb, "")) == "malformed");
    CHECK(reason(t::gcm_cookie(skb, std::string(4000, '['))) == "malformed");
}

TEST_CASE("a member name given twice in any object a value is read from refuses the cookie") {
    CHECK(reason(t::gcm_cookie(skb, R"({"user_id":43,"user_id":42})")) == "duplicate_member");
    CHECK(reason(t::gcm_cookie(skb, R"({"_rails":{"data":{"user_id":"9"}},"_rails":{"data":{"user_id":"8"}}})")) ==
          "duplicate_member");
    CHECK(reason(t::gcm_cookie(skb, envelope(R"(,"pur":"cookie._app_session","pur":"x")"))) == "duplicate_member");
    CHECK(reason(t::gcm_cookie(skb, R"({"_rails":{"data":{"user_id":"9","user_id":"8"}}})")) == "duplicate_member");
    CHECK(reason(t::gcm_cookie(skb, R"({"_rails":{"message":")" + t::b64(R"({"user_id":5,"user_id":6})") +
                                        R"("}})")) == "duplicate_member");
    // Distinct names at one level, equal names at different levels: accepted.
    auto decoded = decoder().decode(t::gcm_cookie(skb, R"({"user_id":5,"flash":{"user_id":6}})"), now);
    REQUIRE(decoded.ok());
    CHECK(rails_session::find_user(decoded.session, {"user_id"}).user == "5");
}

TEST_CASE("a Marshal session is refused without being parsed") {
    CHECK(reason(t::gcm_cookie(skb, std::string("\x04\x08{\x06I\"\x0cuser_id\x06:\x06ETi\x0a", 21))) ==
          "marshal_session");
    CHECK(reason(t::gcm_cookie(skb, R"({"_rails":{"message":")" + t::b64("\x04\x08[\x00") + R"("}})")) ==
          "marshal_session");
}

TEST_CASE("the metadata envelope is unwrapped after its purpose and expiry are checked") {
    auto decoded = decoder().decode(t::gcm_cookie(skb, envelope(R"(,"pur":"cookie._app_session")")), now);
    REQUIRE(decoded.ok());
    CHECK(rails_session::find_user(decoded.session, {"user_id"}).user == "5");
    CHECK(decoder().decode(t::gcm_cookie(skb, envelope(R"(,"exp":null,"pur":null)")), now).ok());
    CHECK(decoder().decode(t::gcm_cookie(skb, envelope(R"(,"exp":"2023-11-14T22:13:20.001Z")")), now).ok());
    // The expiry travels with the session, in whole seconds (a stream ends then).
    CHECK(decoder().decode(t::gcm_cookie(skb, envelope(R"(,"exp":"2023-11-14T22:13:20.001Z")")), now).expires_at_ms ==
          1700000001000);
    CHECK(decoder().decode(t::gcm_cookie(skb, envelope(R"(,"exp":"2023-11-14T22:15:00.000Z")")), now).expires_at_ms ==
          1700000100000);
    CHECK_FALSE(decoder().decode(t::gcm_cookie(skb, envelope(R"(,"exp":null,"pur":null)")), now).expires_at_ms);
    CHECK(reason(t::gcm_cookie(skb, envelope(R"(,"exp":"2023-11-14T22:13:20.000Z")"))) == "expired");
    CHECK(reason(t::gcm_cookie(skb, envelope(R"(,"exp":"2001-01-01T00:00:00.000Z")"))) == "expired");
    CHECK(reason(t::gcm_cookie(skb, envelope(R"(,"exp":"soon")"))) == "malformed");
    CHECK(reason(t::gcm_cookie(skb, envelope(R"(,"exp":1800000000)"))) == "malformed");
    CHECK(reason(t::gcm_cookie(skb, envelope(R"(,"pur":"cookie.remember_me")"))) == "wrong_purpose");
    CHECK(reason(t::gcm_cookie(skb, envelope(R"(,"pur":"cookie._app_session2")"))) == "wrong_purpose");
    CHECK(reason(t::gcm_cookie(skb, envelope(R"(,"pur":7)"))) == "wrong_purpose");
    CHECK(reason(t::gcm_cookie(skb, R"({"_rails":{"message":"not base64!"}})")) == "malformed");
    CHECK(reason(t::gcm_cookie(skb, R"({"_rails":{"message":")" + t::b64("[1]") + R"("}})")) == "malformed");
    CHECK(reason(t::gcm_cookie(skb, R"({"_rails":{"pur":"cookie._app_session"}})")) == "malformed");
}

TEST_CASE("the Rails 7.1 data envelope is unwrapped") {
    auto decoded =
        decoder().decode(t::gcm_cookie(skb, R"({"_rails":{"data":{"user_id":"9"},"pur":"cookie._app_session"}})"), now);
    REQUIRE(decoded.ok());
    CHECK(rails_session::find_user(decoded.session, {"user_id"}).user == "9");
    CHECK(reason(t::gcm_cookie(skb, R"({"_rails":{"data":"x"}})")) == "malformed");
}

TEST_CASE("a data envelope nested thousands deep is unwrapped on a small stack") {
    // Found by tests/fuzz (rails_cookie): the envelope's data was copied with
    // RapidJSON's recursive CopyFrom, which overflowed a 256 KiB stack at ~2,700
    // levels in the fuzz build. The 8 KiB cookie limit allows ~2,800; a 64 KiB
    // stack makes the overflow certain in every build.
    constexpr std::size_t depth = 2800;
    const auto cookie = t::gcm_cookie(skb, R"({"_rails":{"data":{"user_id":"9","deep":)" + std::string(depth, '[') +
                                               std::string(depth, ']') + "}}}");
    std::string user, why;
    gw::test::run_on_small_stack([&] {
        auto decoded = decoder().decode(cookie, now);
        why = gw::auth::to_string(decoded.why);
        if (decoded.ok()) user = rails_session::find_user(decoded.session, {"user_id"}).user;
    }, 64 * 1024);
    CHECK(why.empty());
    CHECK(user == "9");
}

TEST_CASE("the user id comes from the first present key as a string or an integer") {
    rapidjson::Document d;
    d.Parse(R"({"a":null,"b":"42","c":7,"d":7.5,"e":"","f":{},"g":-3})");
    CHECK(rails_session::find_user(d, {"b"}).user == "42");
    CHECK(rails_session::find_user(d, {"c"}).user == "7");
    CHECK(rails_session::find_user(d, {"g"}).user == "-3");
    CHECK(rails_session::find_user(d, {"a", "c"}).user == "7");
    CHECK(rails_session::find_user(d, {"missing", "b"}).user == "42");
    CHECK(rails_session::find_user(d, {"missing"}).why == gw::auth::reason::missing_key);
    CHECK(rails_session::find_user(d, {"a"}).why == gw::auth::reason::missing_key);
    CHECK(rails_session::find_user(d, {"d"}).why == gw::auth::reason::bad_user_value);
    CHECK(rails_session::find_user(d, {"e"}).why == gw::auth::reason::bad_user_value);
    CHECK(rails_session::find_user(d, {"f", "b"}).why == gw::auth::reason::bad_user_value);
}

TEST_CASE("a configured key digest limits which derived keys are tried") {
    const auto cookie = t::gcm_cookie(skb, R"({"user_id":5})");  // SHA1-derived key
    CHECK(decoder("sha1").decode(cookie, now).ok());
    CHECK(decoder("SHA1").decode(cookie, now).ok());
    CHECK(decoder("sha256").decode(cookie, now).why == gw::auth::reason::bad_signature);
}

TEST_CASE("construction refuses an empty secret, an empty cookie name and unknown digests") {
    CHECK_THROWS_AS(rails_session("", cookie_name, ""), std::invalid_argument);
    CHECK_THROWS_AS(rails_session(skb, "", ""), std::invalid_argument);
    CHECK_THROWS_AS(rails_session(skb, cookie_name, "md5"), std::invalid_argument);
}
