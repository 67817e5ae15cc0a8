#include "channel_namer.hpp"
#include "config.hpp"

#include <catch2/catch.hpp>

using gw::channel_namer;

TEST_CASE("a valid user id becomes the templated channel", "[channel]") {
    channel_namer n("user_{user}", "^[0-9]{1,20}$");
    auto r = n.name("42");
    REQUIRE(r.ok());
    CHECK(r.channel == "user_42");
    channel_namer mid("app_{user}_status", "^[a-z0-9]+$");
    CHECK(mid.name("abc").channel == "app_abc_status");
}

TEST_CASE("ids that could reach another channel are refused", "[channel]") {
    channel_namer n("user_{user}", "^[0-9]{1,20}$");
    struct row {
        std::string id;
        std::string_view reason;
    };
    const row rows[] = {
        {"", "empty"},
        {"abc", "pattern"},
        {"42 ", "pattern"},
        {"1;DROP TABLE users", "pattern"},
        {"' OR 1=1", "pattern"},
        {"\"42\"", "pattern"},
        {"4\xd9\xa2", "pattern"},  // Arabic-Indic digit two
        {"123456789012345678901", "pattern"},
        {std::string("4\0" "2", 3), "pattern"},
    };
    for (const auto& r : rows) {
        INFO("id: " << r.id);
        auto res = n.name(r.id);
        CHECK_FALSE(res.ok());
        CHECK(res.reason == r.reason);
    }
}

TEST_CASE("a channel name longer than 63 bytes is refused, not truncated", "[channel]") {
    channel_namer n("user_{user}", "^[a-z]+$");
    CHECK(n.name(std::string(58, 'a')).ok());  // 5 + 58 = 63 bytes
    auto r = n.name(std::string(59, 'a'));
    CHECK_FALSE(r.ok());
    CHECK(r.reason == "too_long");
}

TEST_CASE("a template without exactly one {user} or a bad pattern is a config error", "[channel]") {
    CHECK_THROWS_AS(channel_namer("user", "^[0-9]+$"), gw::config_error);
    CHECK_THROWS_AS(channel_namer("{user}_{user}", "^[0-9]+$"), gw::config_error);
    CHECK_THROWS_AS(channel_namer(std::string(63, 'x') + "{user}", "^[0-9]+$"), gw::config_error);
    CHECK_THROWS_AS(channel_namer("user_{user}", "([0-9"), gw::config_error);
}

TEST_CASE("the default pattern's fast check agrees with the regular expression", "[channel]") {
    // The default is checked without std::regex; the same pattern spelled another
    // way goes through the regex engine, and both must answer alike.
    channel_namer fast("user_{user}", gw::default_user_pattern);
    channel_namer slow("user_{user}", "^(?:[0-9]){1,20}$");
    // clang-format off
    const std::string ids[] = {
        "0", "7", "42", "00042", "12345678901234567890", "123456789012345678901", "", "-1", "+1", "1e3",
        "0x1F", " 1", "1 ", "1\n", "\n1", "4\xd9\xa2", std::string("1\0" "2", 3), "a1", "1a", "12.5",
        "9999999999999999999999"};
    // clang-format on
    for (const auto& id : ids) {
        INFO("id: " << id);
        auto a = fast.name(id), b = slow.name(id);
        CHECK(a.ok() == b.ok());
        CHECK(a.reason == b.reason);
        CHECK(a.channel == b.channel);
    }
}
