// The concurrency core without a database: the stream registry and the router (see
// hub_fixture.hpp) under subscribe, go-live, delivery, a close during a fan-out,
// drain, loss and catch-up.
#include "hub_fixture.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace gw;
using namespace gw::test;
using namespace std::chrono_literals;

namespace {

bool has(const std::vector<std::string>& frames, std::string_view text) {
    for (const auto& f : frames)
        if (f.find(text) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("a stream goes live only once its channel is listened", "[hub]") {
    hub_fixture h;
    auto a = h.stream("user_1");
    auto b = h.stream("user_1");
    CHECK(h.input.wanted == std::set<std::string>{"user_1"});  // asked once for both streams
    CHECK(a->live == 0);
    CHECK_FALSE(h.router->ready());
    h.input.confirm_all();
    h.run();
    CHECK(a->live == 1);
    CHECK(b->live == 1);
    CHECK(h.router->ready());
    // A later stream on a listened channel goes live without asking the database again.
    auto c = h.stream("user_1");
    CHECK(c->live == 1);
}

TEST_CASE("an event reaches exactly its channel's streams, framed with a sequence id", "[hub]") {
    hub_fixture h;
    auto mine0 = h.stream("user_1");
    auto mine1 = h.stream("user_1");
    auto other = h.stream("user_2", "2");
    h.input.confirm_all();
    h.run();
    h.input.notify("user_1", R"({"status":"approved"})");
    h.run();
    REQUIRE(mine0->frames.size() == 1);
    REQUIRE(mine1->frames.size() == 1);
    CHECK(other->frames.empty());
    CHECK(mine0->frames[0] == mine1->frames[0]);
    CHECK(has(mine0->frames, "id: " + h.router->boot_id() + "-1\n"));
    CHECK(has(mine0->frames, R"(data: {"status":"approved"})"));
    h.input.notify("user_9", "nobody's");
    h.run();
    CHECK(h.router->stats().unrouted.value() == 1);
}

TEST_CASE("a stream closed during a fan-out leaves the others their event and the channel listened", "[hub]") {
    hub_fixture h;
    auto slow = h.stream("user_1");
    auto fine = h.stream("user_1");
    slow->close_on_send = true;
    h.input.confirm_all();
    h.run();
    h.input.notify("user_1", "one");
    h.run();
    CHECK(slow->closed == hub::close_reason::slow_consumer);
    CHECK(fine->frames.size() == 1);
    CHECK(h.input.unlistened.empty());
    h.input.notify("user_1", "two");
    h.run();
    CHECK(fine->frames.size() == 2);
    CHECK(slow->frames.size() == 1);
    // The last stream leaving gives the LISTEN up.
    h.on([&] { fine->close(hub::close_reason::client_closed); });
    CHECK(h.input.unlistened == std::vector<std::string>{"user_1"});
}

TEST_CASE("a drain closes every tracked stream with the shutdown reason", "[hub]") {
    hub_fixture h;
    auto a = h.stream("user_1");
    auto b = h.stream("user_2", "2");
    for (auto& l : h.loops) l->post_drain(0ms);
    // The drain spreads closes over timers; with no spread they are due at once.
    for (int i = 0; i < 50 && !(a->closed && b->closed); ++i) {
        h.run();
        std::this_thread::sleep_for(1ms);
    }
    CHECK(a->closed == hub::close_reason::shutdown);
    CHECK(b->closed == hub::close_reason::shutdown);
}

TEST_CASE("after a loss streams wait for the re-LISTEN and a changed status is caught up", "[hub]") {
    hub_fixture h;
    h.input.snapshots["1"] = "pending";
    auto a = h.stream("user_1");
    h.input.confirm_all();
    h.run();
    h.input.notify("user_1", "pending");
    h.run();
    h.input.lose();
    h.run();
    CHECK_FALSE(h.router->ready());
    // A stream opened during the outage is not live until the channel is back.
    auto late = h.stream("user_1");
    CHECK(late->live == 0);
    h.input.snapshots["1"] = "approved";  // changed while the connection was down
    h.input.is_up = true;
    h.input.confirm_all();
    h.run();
    CHECK(late->live == 1);
    CHECK(h.router->stats().catch_ups.value() == 1);
    REQUIRE(a->frames.size() == 2);
    CHECK(has({a->frames[1]}, R"({"status":"approved"})"));
    // Unchanged after the next loss: nothing is sent again.
    h.input.lose();
    h.input.is_up = true;
    h.input.confirm_all();
    h.run();
    CHECK(a->frames.size() == 2);
}

namespace {

std::vector<std::string> texts(const hub::catch_up_reply& r) {
    std::vector<std::string> out;
    for (const auto& f : r.frames) out.push_back(*f);
    return out;
}

}  // namespace

TEST_CASE("streams waiting for one channel's snapshot share one query", "[hub]") {
    hub_fixture h;
    h.input.snapshots["1"] = "pending";
    h.input.hold_snapshots = true;
    auto a = h.stream("user_1");
    auto b = h.stream("user_1");
    h.input.confirm_all();
    h.run();
    h.catch_up(a);
    h.catch_up(b);
    auto c = h.stream("user_1");  // opens while the query runs: it joins it
    h.catch_up(c);
    CHECK(h.input.held.size() == 1);
    h.input.answer_snapshots();
    h.run();
    for (const auto& s : {a, b, c}) {
        REQUIRE(s->replies.size() == 1);
        CHECK(has(texts(s->replies[0]), R"({"status":"pending"})"));
    }
    CHECK(h.input.held.empty());
}

TEST_CASE("a NOTIFY received while the snapshot query runs supersedes its answer", "[hub]") {
    hub_fixture h;
    h.input.snapshots["1"] = "pending";  // what the query read
    h.input.hold_snapshots = true;
    auto a = h.stream("user_1");
    h.input.confirm_all();
    h.run();
    h.catch_up(a);
    h.input.notify("user_1", "approved");  // committed after the query read its row
    h.run();
    auto late = h.stream("user_1");  // asks after the NOTIFY went out
    h.catch_up(late);
    h.input.answer_snapshots();
    h.run();
    REQUIRE(a->replies.size() == 1);
    CHECK(a->replies[0].frames.empty());  // it holds the NOTIFY: nothing older follows it
    REQUIRE(late->replies.size() == 1);
    REQUIRE(late->replies[0].frames.size() == 1);
    CHECK(has(texts(late->replies[0]), R"({"status":"approved"})"));
}

TEST_CASE("a NOTIFY received during the catch-up query after a loss supersedes its answer", "[hub]") {
    hub_fixture h;
    auto a = h.stream("user_1");
    h.input.confirm_all();
    h.run();
    h.input.notify("user_1", "pending");
    h.run();
    h.input.lose();
    h.run();
    h.input.snapshots["1"] = "pending";  // what the catch-up query reads
    h.input.hold_snapshots = true;
    h.input.is_up = true;
    h.input.confirm_all();
    h.run();
    CHECK(h.input.held.size() == 1);
    h.input.notify("user_1", "approved");
    h.run();
    h.input.answer_snapshots();
    h.run();
    REQUIRE(a->frames.size() == 2);
    CHECK(has({a->frames.back()}, R"({"status":"approved"})"));
}

TEST_CASE("a catch-up replays from the buffer when it can prove nothing is missing", "[hub]") {
    hub_fixture h({}, snapshot_statement::none);
    auto a = h.stream("user_1");
    h.input.confirm_all();
    h.run();
    for (const char* p : {"one", "two", "three"}) h.input.notify("user_1", p);
    h.run();
    std::optional<hub::catch_up_reply> reply;
    h.router->catch_up("user_1", 1, [&](hub::catch_up_reply r) { reply = std::move(r); });
    h.run();
    REQUIRE(reply);
    CHECK(reply->replaces_held);
    REQUIRE(reply->frames.size() == 2);
    CHECK(has({*reply->frames[0]}, R"({"status":"two"})"));
    CHECK(has({*reply->frames[1]}, R"({"status":"three"})"));
    // An id this process never handed out cannot be proven: no replay, no snapshot configured.
    reply.reset();
    h.router->catch_up("user_1", 99, [&](hub::catch_up_reply r) { reply = std::move(r); });
    h.run();
    REQUIRE(reply);
    CHECK(reply->frames.empty());
}

TEST_CASE("a route's snapshots run its own statement, and a route without one runs none", "[hub]") {
    {
        hub::router::settings rs;
        rs.snapshot_query = 2;
        hub_fixture h(rs);
        h.input.snapshots["1"] = "pending";
        auto a = h.stream("user_1");
        h.input.confirm_all();
        h.run();
        h.catch_up(a);
        REQUIRE(a->replies.size() == 1);
        CHECK(has(texts(a->replies[0]), R"({"status":"pending"})"));
        CHECK(h.input.queries == std::vector<std::size_t>{2});
    }
    {
        hub_fixture h({}, snapshot_statement::none);
        h.input.snapshots["1"] = "pending";  // the input could answer, but the route has no statement
        auto a = h.stream("user_1");
        h.input.confirm_all();
        h.run();
        h.catch_up(a);
        REQUIRE(a->replies.size() == 1);
        CHECK(a->replies[0].frames.empty());
        h.input.lose();
        h.input.is_up = true;
        h.input.confirm_all();
        h.run();
        CHECK(h.router->stats().catch_ups.value() == 0);
        CHECK(h.input.queries.empty());
    }
}

TEST_CASE("in shared mode the payload's user picks the channel and a broadcast reaches everyone", "[hub]") {
    hub::router::settings rs;
    rs.mode = channel_mode::shared;
    rs.shared_channel = "events";
    rs.shared_user_field = "user_id";
    rs.broadcast_channel = "everyone";
    hub_fixture h(rs);
    CHECK(h.input.wanted == std::set<std::string>{"events", "everyone"});
    auto one = h.stream("user_1");
    auto two = h.stream("user_2", "2");
    CHECK(h.input.wanted.size() == 2);  // per-user channels ride on the bearer
    h.input.confirm_all();
    h.run();
    CHECK(one->live == 1);
    CHECK(two->live == 1);
    h.input.notify("events", R"({"user_id":2,"status":"approved"})");
    h.input.notify("events", R"({"user_id":"x"})");  // not a valid user: nobody
    h.input.notify("everyone", "maintenance");
    h.run();
    CHECK(one->frames.size() == 1);
    CHECK(has(one->frames, R"({"status":"maintenance"})"));
    REQUIRE(two->frames.size() == 2);
    CHECK(has(two->frames, R"("status":"approved")"));
    CHECK(h.router->stats().unrouted.value() == 1);
}

TEST_CASE("in per-user mode a shared channel name set beside it routes nothing by payload", "[hub]") {
    hub::router::settings rs;
    rs.shared_channel = "events";  // the flag's default is there in every mode
    rs.shared_user_field = "user_id";
    hub_fixture h(rs);
    CHECK(h.input.wanted.empty());
    auto one = h.stream("user_1");
    CHECK(h.input.wanted == std::set<std::string>{"user_1"});
    h.input.confirm_all();
    h.run();
    h.input.notify("events", R"({"user_id":1,"status":"approved"})");
    h.run();
    CHECK(one->frames.empty());
    h.input.notify("user_1", "approved");
    h.run();
    CHECK(one->frames.size() == 1);
}

TEST_CASE("the registry ticks while it holds streams and sleeps without them", "[hub]") {
    hub_fixture h;
    auto& loop = h.loops[0]->context();
    // Runs the registry's loop for a while; how many handlers ran (0: nothing was due).
    auto run_for = [&](std::chrono::milliseconds d) {
        loop.restart();
        return loop.run_for(d);
    };
    CHECK(run_for(30ms) == 0);  // no stream yet: no timer wakes the loop

    auto s = h.stream("user_2", "2");
    run_for(35ms);
    CHECK(s->ticks >= 1);  // the first slot holds it, and is visited after 10 ms

    h.on([&] { s->close(hub::close_reason::client_closed); });
    s.reset();
    run_for(1100ms);           // a whole turn of the ring sweeps the closed stream out...
    CHECK(run_for(30ms) == 0);  // ...and then the loop sleeps again
}
