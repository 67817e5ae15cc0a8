// The concurrency core without a database: shards and the router on their real
// io_contexts, fed by a scripted event input (the hub's own interface, played by
// the test) and read by recording subscribers. The pg::listener side of the
// interface is tested against a real PostgreSQL in the integration tests.
#include "channel_namer.hpp"
#include "hub/router.hpp"
#include "hub/shard.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace gw;
using namespace std::chrono_literals;

namespace {

// The input as the hub sees it: remembers what it was asked, answers when told.
class scripted_input final : public hub::event_input {
public:
    void start(receiver& r) override { receiver_ = &r; }
    void stop() override { stopped = true; }
    bool listen(const std::string& channel) override {
        wanted.insert(channel);
        return listened.count(channel) != 0;
    }
    void unlisten(const std::string& channel) override {
        wanted.erase(channel);
        unlistened.push_back(channel);
    }
    bool up() const override { return is_up; }
    bool settled() const override { return is_up && pending().empty(); }
    bool has_snapshots() const override { return !snapshots.empty(); }
    void snapshot(const std::string& user, snapshot_callback done) override {
        auto it = snapshots.find(user);
        done(it != snapshots.end(), it != snapshots.end() ? std::optional<std::string>(it->second) : std::nullopt);
    }

    // The test plays the database.
    std::vector<std::string> pending() const {
        std::vector<std::string> out;
        for (const auto& c : wanted)
            if (!listened.count(c)) out.push_back(c);
        return out;
    }
    void confirm_all() {
        std::vector<hub::listen_change> changes;
        for (const auto& c : pending()) {
            listened.insert(c);
            changes.push_back({c, true});
        }
        receiver_->on_listen_changes(changes);
    }
    void notify(std::string channel, std::string payload) {
        hub::notification n{channel, payload, std::chrono::steady_clock::now()};
        receiver_->on_notifications({&n, 1});
    }
    void lose() {
        listened.clear();
        is_up = false;
        receiver_->on_down();
    }

    std::set<std::string> wanted, listened;
    std::vector<std::string> unlistened;
    std::map<std::string, std::string> snapshots;  // user -> value
    bool is_up = true;
    bool stopped = false;

private:
    receiver* receiver_ = nullptr;
};

// A stream as the shard sees it: records what the shard does to it.
class recorder final : public hub::subscriber, public hub::closable {
public:
    recorder(hub::shard& s, std::string channel, std::string user)
        : shard_(s), channel_(std::move(channel)), user_(std::move(user)) {}
    const std::string& channel() const override { return channel_; }
    const std::string& user() const override { return user_; }
    void go_live() override { ++live; }
    void send(const hub::frame_ptr& frame) override {
        if (closed) return;
        frames.push_back(*frame);
        if (close_on_send) close(hub::close_reason::slow_consumer);
    }
    void close(hub::close_reason reason) override {
        if (closed) return;
        closed = reason;
        shard_.unsubscribe(*this);
    }
    void tick(std::chrono::steady_clock::time_point) override { ++ticks; }

    std::vector<std::string> frames;
    std::optional<hub::close_reason> closed;
    int live = 0;
    int ticks = 0;
    bool close_on_send = false;

private:
    hub::shard& shard_;
    std::string channel_, user_;
};

// Two shards and a router on shard 0's context, all driven from the test thread.
struct hub_fixture {
    explicit hub_fixture(hub::router::settings rs = {}) {
        rs.wrap_field = "status";  // a payload that is not a JSON object is wrapped in {"status": ...}
        for (unsigned i = 0; i < 2; ++i) shards.push_back(std::make_unique<hub::shard>(i));
        router = std::make_unique<hub::router>(shards[0]->context(), input, std::move(rs), namer,
                                               std::vector<hub::shard*>{shards[0].get(), shards[1].get()});
        for (auto& s : shards) s->attach(*router);
        router->start();
        run();
    }
    // Runs every ready handler on both loops until none is left.
    void run() {
        for (int quiet = 0; quiet < 2;) {
            std::size_t n = 0;
            for (auto& s : shards) {
                s->context().restart();
                n += s->context().poll();
            }
            quiet = n == 0 ? quiet + 1 : 0;
        }
    }
    // Calls f on shard i's thread (the thread rule of every non-post_ method).
    template <class F>
    void on(unsigned i, F f) {
        net::post(shards[i]->context(), std::move(f));
        run();
    }
    std::shared_ptr<recorder> stream(unsigned i, const std::string& channel, const std::string& user = "1") {
        auto r = std::make_shared<recorder>(*shards[i], channel, user);
        on(i, [&] {
            shards[i]->track(r);
            shards[i]->subscribe(r);
        });
        return r;
    }

    channel_namer namer{"user_{user}", "^[0-9]{1,20}$"};
    scripted_input input;
    std::vector<std::unique_ptr<hub::shard>> shards;
    std::unique_ptr<hub::router> router;
};

bool has(const std::vector<std::string>& frames, std::string_view text) {
    for (const auto& f : frames)
        if (f.find(text) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("a stream goes live only once its channel is listened, on either shard", "[hub]") {
    hub_fixture h;
    auto a = h.stream(0, "user_1");
    auto b = h.stream(1, "user_1");
    CHECK(h.input.wanted == std::set<std::string>{"user_1"});  // asked once for both shards
    CHECK(a->live == 0);
    CHECK_FALSE(h.router->ready());
    h.input.confirm_all();
    h.run();
    CHECK(a->live == 1);
    CHECK(b->live == 1);
    CHECK(h.router->ready());
    // A later stream on a listened channel goes live without asking the database again.
    auto c = h.stream(1, "user_1");
    CHECK(c->live == 1);
}

TEST_CASE("an event reaches exactly its channel's streams, framed with a sequence id", "[hub]") {
    hub_fixture h;
    auto mine0 = h.stream(0, "user_1");
    auto mine1 = h.stream(1, "user_1");
    auto other = h.stream(1, "user_2", "2");
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
    auto slow = h.stream(0, "user_1");
    auto fine = h.stream(0, "user_1");
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
    h.on(0, [&] { fine->close(hub::close_reason::client_closed); });
    CHECK(h.input.unlistened == std::vector<std::string>{"user_1"});
}

TEST_CASE("a drain closes every tracked stream on every shard with the shutdown reason", "[hub]") {
    hub_fixture h;
    auto a = h.stream(0, "user_1");
    auto b = h.stream(1, "user_2", "2");
    for (auto& s : h.shards) s->post_drain(0ms);
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
    auto a = h.stream(1, "user_1");
    h.input.confirm_all();
    h.run();
    h.input.notify("user_1", "pending");
    h.run();
    h.input.lose();
    h.run();
    CHECK_FALSE(h.router->ready());
    // A stream opened during the outage is not live until the channel is back.
    auto late = h.stream(1, "user_1");
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

TEST_CASE("a catch-up replays from the buffer when it can prove nothing is missing", "[hub]") {
    hub_fixture h;
    auto a = h.stream(0, "user_1");
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

TEST_CASE("in shared mode the payload's user picks the channel and a broadcast reaches everyone", "[hub]") {
    hub::router::settings rs;
    rs.shared_channel = "events";
    rs.shared_user_field = "user_id";
    rs.broadcast_channel = "everyone";
    hub_fixture h(rs);
    CHECK(h.input.wanted == std::set<std::string>{"events", "everyone"});
    auto one = h.stream(0, "user_1");
    auto two = h.stream(1, "user_2", "2");
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
