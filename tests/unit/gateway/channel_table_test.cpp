#include "hub/channel_table.hpp"

#include <catch2/catch.hpp>

using gw::hub::channel_table;

TEST_CASE("a channel is listened for its streams' request and announced once", "[channel_table]") {
    channel_table t;
    CHECK(t.add("user_1", "u", 3));
    CHECK_FALSE(t.find_route("user_1").live);  // not listened yet: no events
    auto u = t.listened("user_1", 0);
    REQUIRE(u.announce.size() == 1);
    CHECK(u.announce[0].seq == 3);
    CHECK(u.announce[0].channel == "user_1");
    CHECK(t.find_route("user_1").live);
    CHECK(t.listened("user_1", 0).announce.empty());  // each request is announced once
}

TEST_CASE("the last stream leaving asks for an UNLISTEN; the record stays until it took effect", "[channel_table]") {
    channel_table t;
    t.add("c", "u", 1);
    t.listened("c", 0);
    CHECK(t.remove("c"));
    CHECK_FALSE(t.find_route("c").live);  // nobody to deliver to
    CHECK(t.record("c") != nullptr);      // a quick reconnect still finds its replay
    t.unlistened("c");
    CHECK(t.record("c") == nullptr);
    CHECK_FALSE(t.find_route("c").live);
}

TEST_CASE("rejoining before the UNLISTEN took effect keeps the record and announces only the new request",
          "[channel_table]") {
    channel_table t;
    t.add("c", "u", 1);
    t.listened("c", 0);
    t.remove("c");
    t.add("c", "u", 2);
    t.unlistened("c");  // the UNLISTEN that was in flight
    REQUIRE(t.record("c") != nullptr);
    auto u = t.listened("c", 4);
    REQUIRE(u.announce.size() == 1);
    CHECK(u.announce[0].seq == 2);
    CHECK(u.catch_up.empty());  // not a loss: nothing to catch up
}

TEST_CASE("after a loss every interest is announced again and listened channels catch up", "[channel_table]") {
    channel_table t;
    t.add("a", "1", 1);
    t.add("b", "2", 4);
    CHECK(t.listened("a", 5).catch_up.empty());
    CHECK(t.record("a")->replay.floor() == 5);
    t.down();
    CHECK_FALSE(t.find_route("a").live);
    auto a = t.listened("a", 9);
    CHECK(a.catch_up == std::vector<std::string>{"a"});
    REQUIRE(a.announce.size() == 1);
    CHECK(a.announce[0].seq == 1);
    CHECK(t.record("a")->replay.floor() == 9);
    // b was never listened: announced, but nothing to catch up.
    auto b = t.listened("b", 9);
    CHECK(b.catch_up.empty());
    CHECK(b.announce.size() == 1);
}

TEST_CASE("a loss forgets channels nobody wants", "[channel_table]") {
    channel_table t;
    t.add("a", "1", 1);
    t.listened("a", 0);
    t.remove("a");
    t.down();
    CHECK(t.record("a") == nullptr);
}

TEST_CASE("in shared mode the bearer carries every user channel", "[channel_table]") {
    channel_table t;
    t.carry_on("events");
    CHECK_FALSE(t.add("user_1", "1", 1));  // carried: nothing for the input to listen
    CHECK(t.carried("user_1", 0).announce.empty());  // not yet: the bearer is not listened
    auto u = t.listened("events", 3);
    REQUIRE(u.announce.size() == 1);
    CHECK(u.announce[0].channel == "user_1");
    CHECK(t.find_route("user_1").live);
    // Later users are carried at once.
    CHECK_FALSE(t.add("user_2", "2", 4));
    auto now = t.carried("user_2", 7);
    REQUIRE(now.announce.size() == 1);
    CHECK(t.record("user_2")->replay.floor() == 7);
    CHECK_FALSE(t.remove("user_2"));
    CHECK(t.record("user_2") == nullptr);
}

TEST_CASE("in shared mode a loss catches every carried channel up once the bearer is back", "[channel_table]") {
    channel_table t;
    t.carry_on("events");
    t.add("user_1", "1", 1);
    t.listened("events", 0);
    t.down();
    CHECK_FALSE(t.find_route("user_1").live);
    auto u = t.listened("events", 5);
    CHECK(u.catch_up == std::vector<std::string>{"user_1"});
    REQUIRE(u.announce.size() == 1);
}

TEST_CASE("a pinned channel is kept with no stream on it", "[channel_table]") {
    channel_table t;
    t.pin("everyone");
    t.listened("everyone", 0);
    t.unlistened("everyone");
    CHECK(t.record("everyone") != nullptr);
    t.down();
    CHECK(t.record("everyone") != nullptr);
}
