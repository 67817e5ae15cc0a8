#include "hub/replay_buffer.hpp"

#include <catch2/catch.hpp>

using gw::hub::replay_buffer;
using namespace std::chrono_literals;

namespace {
replay_buffer::frame_ptr f(const char* s) { return std::make_shared<const std::string>(s); }
const auto t0 = replay_buffer::clock::time_point{} + 1h;
}  // namespace

TEST_CASE("events after a known id are replayed in order", "[replay]") {
    replay_buffer b;
    b.restart(10);
    b.push(11, f("a"), t0, 64, 300s);
    b.push(14, f("b"), t0, 64, 300s);
    b.push(20, f("c"), t0, 64, 300s);
    auto r = b.after(11, 25, t0, 300s);
    REQUIRE(r);
    REQUIRE(r->size() == 2);
    CHECK(*(*r)[0] == "b");
    CHECK(*(*r)[1] == "c");
    // An id between this channel's events (another channel's) is just as good.
    auto r2 = b.after(15, 25, t0, 300s);
    REQUIRE(r2);
    CHECK(r2->size() == 1);
    auto none = b.after(20, 25, t0, 300s);
    REQUIRE(none);
    CHECK(none->empty());
}

TEST_CASE("an id from before the current LISTEN cannot prove anything", "[replay]") {
    replay_buffer b;
    b.restart(10);
    b.push(11, f("a"), t0, 64, 300s);
    CHECK_FALSE(b.after(10, 11, t0, 300s));
    CHECK_FALSE(b.after(3, 11, t0, 300s));
}

TEST_CASE("an id this process never handed out is unknown", "[replay]") {
    replay_buffer b;
    b.restart(10);
    b.push(11, f("a"), t0, 64, 300s);
    CHECK_FALSE(b.after(999, 11, t0, 300s));
}

TEST_CASE("evicted events make older ids unprovable", "[replay]") {
    replay_buffer b;
    b.restart(0);
    for (std::uint64_t i = 1; i <= 5; ++i) b.push(i, f("x"), t0, 3, 300s);
    CHECK(b.size() == 3);
    CHECK_FALSE(b.after(1, 5, t0, 300s));  // 2 was evicted
    auto r = b.after(2, 5, t0, 300s);      // 2 was the newest evicted: 3..5 are all here
    REQUIRE(r);
    CHECK(r->size() == 3);
}

TEST_CASE("events older than the age limit are evicted", "[replay]") {
    replay_buffer b;
    b.restart(0);
    b.push(1, f("old"), t0, 64, 60s);
    b.push(2, f("new"), t0 + 50s, 64, 60s);
    auto r = b.after(1, 2, t0 + 70s, 60s);  // 1 aged out, but 1 itself is the newest evicted
    REQUIRE(r);
    CHECK(r->size() == 1);
    CHECK_FALSE(b.after(1, 2, t0 + 200s, 60s));  // 2 aged out too: 1 is now too old
    CHECK(b.size() == 0);
}
