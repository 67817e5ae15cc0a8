#include "pg/listen_set.hpp"

#include <catch2/catch.hpp>

using gw::pg::listen_set;

namespace {
std::vector<std::string> names(const std::vector<listen_set::op>& ops, bool listen) {
    std::vector<std::string> out;
    for (const auto& o : ops)
        if (o.listen == listen) out.push_back(o.channel);
    return out;
}
}  // namespace

TEST_CASE("a channel is listened once, when its first shard asks", "[listen_set]") {
    listen_set s;
    CHECK(s.add("user_1", "u", 0, 1).empty());
    CHECK(s.add("user_1", "u", 1, 1).empty());
    auto batch = s.take_batch(100);
    CHECK(names(batch, true) == std::vector<std::string>{"user_1"});
    CHECK(s.take_batch(100).empty());  // one batch in flight at a time
    auto live = s.confirm(0).announce;
    REQUIRE(live.size() == 2);
    CHECK(s.listened_count() == 1);
    CHECK(s.listeners("user_1") == 0b11);
    CHECK(s.settled());
}

TEST_CASE("pending changes go out together as one batch, bounded in size", "[listen_set]") {
    listen_set s;
    for (int i = 0; i < 5; ++i) s.add("c" + std::to_string(i), "u", 0, 1);
    CHECK(s.take_batch(3).size() == 3);
    s.confirm(0);
    CHECK(s.take_batch(3).size() == 2);
    s.confirm(0);
    CHECK(s.listened_count() == 5);
}

TEST_CASE("a channel is unlistened when its last shard leaves", "[listen_set]") {
    listen_set s;
    s.add("c", "u", 0, 1);
    s.add("c", "u", 1, 1);
    s.take_batch(10);
    s.confirm(0);
    s.remove("c", 0);
    CHECK(s.take_batch(10).empty());
    s.remove("c", 1);
    auto batch = s.take_batch(10);
    CHECK(names(batch, false) == std::vector<std::string>{"c"});
    s.confirm(0);
    CHECK(s.listened_count() == 0);
    CHECK(s.listeners("c") == 0);
}

TEST_CASE("a shard joining an already listened channel is announced at once", "[listen_set]") {
    listen_set s;
    s.add("c", "u", 0, 1);
    s.take_batch(10);
    s.confirm(0);
    auto now = s.add("c", "u", 1, 7);
    REQUIRE(now.size() == 1);
    CHECK(now[0].shard == 1);
    CHECK(now[0].seq == 7);
}

TEST_CASE("leave and rejoin before the batch goes out sends nothing", "[listen_set]") {
    listen_set s;
    s.add("c", "u", 0, 1);
    s.take_batch(10);
    s.confirm(0);
    s.remove("c", 0);
    auto now = s.add("c", "u", 0, 2);
    CHECK(now.size() == 1);
    CHECK(s.take_batch(10).empty());
    CHECK(s.listened_count() == 1);
}

TEST_CASE("rejoining while the UNLISTEN is in flight listens again and announces only the new request",
          "[listen_set]") {
    listen_set s;
    s.add("c", "u", 0, 1);
    s.take_batch(10);
    s.confirm(0);
    s.remove("c", 0);
    CHECK(names(s.take_batch(10), false) == std::vector<std::string>{"c"});
    CHECK(s.add("c", "u", 0, 2).empty());  // not yet: the UNLISTEN is in flight
    CHECK(s.confirm(0).announce.empty());
    CHECK(names(s.take_batch(10), true) == std::vector<std::string>{"c"});
    auto live = s.confirm(0).announce;
    REQUIRE(live.size() == 1);
    CHECK(live[0].seq == 2);
}

TEST_CASE("after a connection loss every wanted channel is listened and announced again", "[listen_set]") {
    listen_set s;
    s.add("a", "u", 0, 1);
    s.add("b", "u", 1, 4);
    s.take_batch(10);
    s.confirm(0);
    s.remove("b", 1);
    s.reset();
    CHECK(s.listened_count() == 0);
    CHECK(s.listeners("a") == 0);
    CHECK_FALSE(s.settled());
    auto batch = s.take_batch(10);
    CHECK(names(batch, true) == std::vector<std::string>{"a"});
    CHECK(names(batch, false).empty());
    auto live = s.confirm(0).announce;
    REQUIRE(live.size() == 1);
    CHECK(live[0].channel == "a");
    CHECK(live[0].seq == 1);
}

TEST_CASE("a loss with a batch in flight forgets the batch", "[listen_set]") {
    listen_set s;
    s.add("a", "u", 0, 1);
    s.take_batch(10);
    s.reset();
    CHECK_FALSE(s.in_flight());
    CHECK(names(s.take_batch(10), true) == std::vector<std::string>{"a"});
}

TEST_CASE("a channel listened again after a loss is reported for catch-up, a new one is not", "[listen_set]") {
    listen_set s;
    s.add("a", "1", 0, 1);
    s.take_batch(10);
    CHECK(s.confirm(5).catch_up.empty());
    REQUIRE(s.record("a"));
    CHECK(s.record("a")->user == "1");
    CHECK(s.record("a")->replay.floor() == 5);
    s.reset();
    s.add("b", "2", 0, 2);
    s.take_batch(10);
    auto c = s.confirm(9);
    CHECK(c.catch_up == std::vector<std::string>{"a"});
    CHECK(s.record("a")->replay.floor() == 9);
}

TEST_CASE("in shared mode only the bearer is listened and it carries every user channel", "[listen_set]") {
    listen_set s;
    s.carry_on("events");
    CHECK(s.add("user_1", "1", 0, 1, 0).empty());  // not yet: the bearer is not listened
    auto batch = s.take_batch(10);
    CHECK(names(batch, true) == std::vector<std::string>{"events"});
    auto c = s.confirm(3);
    REQUIRE(c.announce.size() == 1);
    CHECK(c.announce[0].channel == "user_1");
    CHECK(s.listened_count() == 1);
    CHECK(s.listeners("user_1") == 1);
    // Later users are carried at once, with no statement sent.
    auto now = s.add("user_2", "2", 1, 4, 7);
    REQUIRE(now.size() == 1);
    CHECK(s.record("user_2")->replay.floor() == 7);
    CHECK(s.take_batch(10).empty());
    s.remove("user_2", 1);
    CHECK(s.record("user_2") == nullptr);
    CHECK(s.take_batch(10).empty());
    CHECK(s.settled());
}

TEST_CASE("in shared mode a loss re-listens the bearer and catches every carried channel up", "[listen_set]") {
    listen_set s;
    s.carry_on("events");
    s.add("user_1", "1", 0, 1, 0);
    s.take_batch(10);
    s.confirm(0);
    s.reset();
    CHECK(s.listeners("user_1") == 0);
    CHECK(names(s.take_batch(10), true) == std::vector<std::string>{"events"});
    auto c = s.confirm(5);
    CHECK(c.catch_up == std::vector<std::string>{"user_1"});
    REQUIRE(c.announce.size() == 1);
}

TEST_CASE("a pinned channel stays listened with no shard interest", "[listen_set]") {
    listen_set s;
    s.pin("everyone");
    CHECK(names(s.take_batch(10), true) == std::vector<std::string>{"everyone"});
    s.confirm(0);
    CHECK(s.take_batch(10).empty());
    CHECK(s.listened_count() == 1);
}
