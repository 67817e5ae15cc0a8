#include "pg/listen_state.hpp"

#include <catch2/catch.hpp>

using gw::pg::listen_state;

namespace {
std::vector<std::string> names(const std::vector<listen_state::op>& ops, bool listen) {
    std::vector<std::string> out;
    for (const auto& o : ops)
        if (o.listen == listen) out.push_back(o.channel);
    return out;
}
std::vector<std::string> changed(const std::vector<gw::hub::listen_change>& changes, bool listened) {
    std::vector<std::string> out;
    for (const auto& c : changes)
        if (c.listened == listened) out.push_back(c.channel);
    return out;
}
}  // namespace

TEST_CASE("a wanted channel is listened by one batch and reported once", "[listen_state]") {
    listen_state s;
    CHECK_FALSE(s.want("user_1"));
    CHECK_FALSE(s.want("user_1"));
    CHECK_FALSE(s.settled());
    auto batch = s.take_batch(100);
    CHECK(names(batch, true) == std::vector<std::string>{"user_1"});
    CHECK(s.take_batch(100).empty());  // one batch in flight at a time
    CHECK(changed(s.confirm(), true) == std::vector<std::string>{"user_1"});
    CHECK(s.listened_count() == 1);
    CHECK(s.listened("user_1"));
    CHECK(s.settled());
    CHECK(s.want("user_1"));  // listened and staying so: nothing to report
}

TEST_CASE("pending changes go out together as one batch, bounded in size", "[listen_state]") {
    listen_state s;
    for (int i = 0; i < 5; ++i) s.want("c" + std::to_string(i));
    CHECK(s.take_batch(3).size() == 3);
    CHECK(s.confirm().size() == 3);
    CHECK(s.take_batch(3).size() == 2);
    s.confirm();
    CHECK(s.listened_count() == 5);
}

TEST_CASE("a dropped channel is unlistened and reported", "[listen_state]") {
    listen_state s;
    s.want("c");
    s.take_batch(10);
    s.confirm();
    s.drop("c");
    CHECK_FALSE(s.settled());
    CHECK(names(s.take_batch(10), false) == std::vector<std::string>{"c"});
    CHECK(changed(s.confirm(), false) == std::vector<std::string>{"c"});
    CHECK(s.listened_count() == 0);
    CHECK(s.settled());
}

TEST_CASE("drop and want again before the batch goes out sends nothing", "[listen_state]") {
    listen_state s;
    s.want("c");
    s.take_batch(10);
    s.confirm();
    s.drop("c");
    CHECK(s.want("c"));
    CHECK(s.take_batch(10).empty());
    CHECK(s.listened_count() == 1);
}

TEST_CASE("wanted again while the UNLISTEN is in flight: listened again, and reported", "[listen_state]") {
    listen_state s;
    s.want("c");
    s.take_batch(10);
    s.confirm();
    s.drop("c");
    CHECK(names(s.take_batch(10), false) == std::vector<std::string>{"c"});
    CHECK_FALSE(s.want("c"));  // not now: the UNLISTEN is in flight
    CHECK(changed(s.confirm(), false) == std::vector<std::string>{"c"});
    CHECK(names(s.take_batch(10), true) == std::vector<std::string>{"c"});
    CHECK(changed(s.confirm(), true) == std::vector<std::string>{"c"});
}

TEST_CASE("dropped while its LISTEN is in flight: unlistened right after", "[listen_state]") {
    listen_state s;
    s.want("c");
    s.take_batch(10);
    s.drop("c");
    CHECK(changed(s.confirm(), true) == std::vector<std::string>{"c"});
    CHECK(names(s.take_batch(10), false) == std::vector<std::string>{"c"});
    s.confirm();
    CHECK(s.settled());
    CHECK_FALSE(s.listened("c"));
}

TEST_CASE("after a loss every wanted channel is listened again; a dropped one is forgotten", "[listen_state]") {
    listen_state s;
    s.want("a");
    s.want("b");
    s.take_batch(10);
    s.confirm();
    s.drop("b");
    s.reset();
    CHECK(s.listened_count() == 0);
    CHECK_FALSE(s.listened("a"));
    CHECK_FALSE(s.settled());
    auto batch = s.take_batch(10);
    CHECK(names(batch, true) == std::vector<std::string>{"a"});
    CHECK(names(batch, false).empty());
    CHECK(changed(s.confirm(), true) == std::vector<std::string>{"a"});
}

TEST_CASE("a loss with a batch in flight forgets the batch", "[listen_state]") {
    listen_state s;
    s.want("a");
    s.take_batch(10);
    s.reset();
    CHECK_FALSE(s.in_flight());
    CHECK(names(s.take_batch(10), true) == std::vector<std::string>{"a"});
}
