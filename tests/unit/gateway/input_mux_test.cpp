// hub::input_mux: several routes over one event input. The real input is played
// by a fake built on pg::listen_state (the listener's own LISTEN bookkeeping, no
// libpq), so it drops an unsent UNLISTEN that is wanted again and reports
// nothing for a LISTEN dropped before it went out, as the real one does. Each
// port's receiver records what its router would hear.
#include "hub/input_mux.hpp"
#include "hub_fixture.hpp"
#include "pg/listen_state.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

using namespace gw;

namespace {

class fake_input final : public hub::event_input {
public:
    void start(receiver& r) override {
        receiver_ = &r;
        ++starts;
    }
    void stop() override { ++stops; }
    bool listen(const std::string& channel) override {
        ++listen_calls[channel];
        return state.want(channel);
    }
    void unlisten(const std::string& channel) override { state.drop(channel); }
    bool up() const override { return true; }
    bool settled() const override { return state.settled(); }
    void snapshot(std::size_t query, const std::string& user, snapshot_callback done) override {
        done(true, std::to_string(query) + ":" + user);
    }

    // The statements the connection would send now: marked in flight.
    std::vector<pg::listen_state::op> send() { return state.take_batch(1000); }
    // The batch in flight took effect.
    void confirm() {
        auto changes = state.confirm();
        if (!changes.empty()) receiver_->on_listen_changes(changes);
    }
    void round() {
        send();
        confirm();
    }
    void lose() {
        state.reset();
        receiver_->on_down();
    }
    void notify(std::vector<std::pair<std::string, std::string>> events) {
        std::vector<hub::notification> batch;
        for (const auto& [c, p] : events) batch.push_back({c, p, std::chrono::steady_clock::now()});
        last_batch = batch.data();
        receiver_->on_notifications(batch);
    }

    pg::listen_state state;
    std::map<std::string, int> listen_calls;
    int starts = 0, stops = 0;
    const hub::notification* last_batch = nullptr;

private:
    receiver* receiver_ = nullptr;
};

// What a router hears, as text: "+c" / "-c" per listen_change, "down", "c=payload".
class recorder final : public hub::event_input::receiver {
public:
    void on_notifications(std::span<const hub::notification> batch) override {
        batch_data = batch.data();
        for (const auto& n : batch) log.push_back(std::string(n.channel) + "=" + std::string(n.payload));
    }
    void on_listen_changes(std::span<const hub::listen_change> changes) override {
        for (const auto& c : changes) {
            log.push_back((c.listened ? "+" : "-") + c.channel);
            listened[c.channel] = c.listened;
        }
    }
    void on_down() override {
        log.push_back("down");
        listened.clear();
    }
    std::vector<std::string> take() { return std::exchange(log, {}); }

    std::vector<std::string> log;
    std::map<std::string, bool> listened;
    const hub::notification* batch_data = nullptr;
};

struct mux_fixture {
    explicit mux_fixture(std::size_t n = 2) {
        for (std::size_t i = 0; i < n; ++i) ports.push_back(&mux.add_port());
        recorders.resize(n);
        inside([&] {
            for (std::size_t i = 0; i < n; ++i) ports[i]->start(recorders[i]);
        });
    }
    // Runs a test's body as a handler of the loop: the mux's thread rule
    // (assert_on_thread, on in the sanitizer tree) holds for every call in it.
    // run() inside it polls the same loop, which Asio allows.
    template <class Body>
    void inside(Body&& body) {
        bool done = false;
        net::post(ioc, [&] {
            body();
            done = true;
        });
        ioc.restart();
        while (!done) ioc.run_one();
    }
    // Delivers what the mux posted.
    void run() {
        ioc.restart();
        ioc.poll();
    }
    bool listen(std::size_t p, const std::string& c) { return ports[p]->listen(c); }
    // Routes 0 and 1 on channel c, listened and reported, their logs cleared.
    void both_on(const std::string& c) {
        listen(0, c);
        listen(1, c);
        real.round();
        recorders[0].take();
        recorders[1].take();
    }
    void unlisten(std::size_t p, const std::string& c) { ports[p]->unlisten(c); }

    net::io_context ioc{1};
    fake_input real;
    hub::input_mux mux{ioc, real};
    std::vector<hub::event_input*> ports;
    std::vector<recorder> recorders;
};

using log_t = std::vector<std::string>;

}  // namespace

TEST_CASE("two routes on one channel: LISTENed once, both told", "[mux]") {
    mux_fixture f;
    f.inside([&] {
    CHECK(f.real.starts == 1);  // the first port's start starts the real input, the second's does not
    CHECK_FALSE(f.listen(0, "c"));
    CHECK_FALSE(f.listen(1, "c"));  // not listened yet: a report follows for this port too
    CHECK(f.real.listen_calls["c"] == 1);
    auto ops = f.real.send();
    CHECK(ops.size() == 1);
    f.real.confirm();
    CHECK(f.recorders[0].take() == log_t{"+c"});
    CHECK(f.recorders[1].take() == log_t{"+c"});
    f.unlisten(1, "c");
    f.run();
    CHECK(f.recorders[1].take() == log_t{"-c"});
    CHECK(f.listen(1, "c"));  // listened, nothing pending for it: true at once
    CHECK(f.real.listen_calls["c"] == 1);
    f.run();
    CHECK(f.recorders[1].log.empty());
    });
}

TEST_CASE("a route that leaves a channel another keeps hears its UNLISTEN; the other keeps its events", "[mux]") {
    mux_fixture f;
    f.inside([&] {
    f.both_on("c");
    f.unlisten(0, "c");
    CHECK(f.recorders[0].log.empty());  // never from inside unlisten()
    CHECK(f.real.send().empty());       // the connection keeps listening for route 1
    f.run();
    CHECK(f.recorders[0].take() == log_t{"-c"});
    f.real.notify({{"c", "x"}});
    CHECK(f.recorders[0].log.empty());
    CHECK(f.recorders[1].take() == log_t{"c=x"});
    });
}

TEST_CASE("leave and come back before the posted UNLISTEN arrives: told both, in order", "[mux]") {
    mux_fixture f;
    f.inside([&] {
    f.both_on("c");
    f.unlisten(0, "c");
    CHECK_FALSE(f.listen(0, "c"));  // its UNLISTEN is still owed: a report follows
    f.run();
    CHECK(f.recorders[0].take() == log_t{"-c", "+c"});
    f.real.notify({{"c", "x"}});
    CHECK(f.recorders[0].take() == log_t{"c=x"});
    });
}

TEST_CASE("everyone leaves, then a route comes back while the real UNLISTEN is in flight", "[mux]") {
    mux_fixture f;
    f.inside([&] {
    f.both_on("c");
    f.unlisten(0, "c");
    f.unlisten(1, "c");  // the last: the connection UNLISTENs
    f.run();
    CHECK(f.recorders[0].take() == log_t{"-c"});
    auto ops = f.real.send();
    REQUIRE(ops.size() == 1);
    CHECK_FALSE(ops[0].listen);
    CHECK_FALSE(f.listen(0, "c"));  // the UNLISTEN is in flight
    f.real.confirm();               // UNLISTEN took effect
    CHECK(f.recorders[0].take() == log_t{"-c"});
    CHECK(f.recorders[1].take() == log_t{"-c"});  // the real report is the last leaver's
    f.real.round();                               // listened again
    CHECK(f.recorders[0].take() == log_t{"+c"});
    CHECK(f.recorders[1].log.empty());
    CHECK(f.recorders[0].listened["c"]);
    });
}

TEST_CASE("everyone leaves, then a route comes back before the UNLISTEN is sent", "[mux]") {
    mux_fixture f;
    // The calls run as one handler of the loop; what they post is delivered after it.
    f.inside([&] {
        f.both_on("c");
        f.unlisten(0, "c");
        f.unlisten(1, "c");
        // The connection drops its unsent UNLISTEN: it will report nothing, so
        // route 1 hears its UNLISTEN from the mux, and route 0 (owed one too) hears
        // it before the LISTEN its listen() promised.
        CHECK_FALSE(f.listen(0, "c"));
        CHECK(f.real.send().empty());
    });
    f.run();
    CHECK(f.recorders[0].take() == log_t{"-c", "+c"});
    CHECK(f.recorders[1].take() == log_t{"-c"});
    CHECK(f.recorders[0].listened["c"]);
}

TEST_CASE("a LISTEN dropped before it was sent still gets its UNLISTEN to the route", "[mux]") {
    mux_fixture f;
    f.inside([&] {
    CHECK_FALSE(f.listen(0, "c"));
    f.unlisten(0, "c");
    CHECK(f.real.send().empty());  // nothing goes out, and nothing will be reported
    f.run();
    CHECK(f.recorders[0].take() == log_t{"-c"});
    // And coming back works as the first time.
    CHECK_FALSE(f.listen(0, "c"));
    f.real.round();
    CHECK(f.recorders[0].take() == log_t{"+c"});
    });
}

TEST_CASE("a loss reaches every route; wanted channels come back, owed UNLISTENs are moot", "[mux]") {
    mux_fixture f;
    f.inside([&] {
    f.listen(1, "d");
    f.both_on("c");
    f.unlisten(1, "c");  // its UNLISTEN is posted ...
    f.real.lose();       // ... and overtaken by the loss
    f.run();
    CHECK(f.recorders[0].take() == log_t{"down"});
    CHECK(f.recorders[1].take() == log_t{"down"});
    CHECK_FALSE(f.listen(0, "c"));  // not listened until the connection has it back
    f.real.round();
    CHECK(f.recorders[0].take() == log_t{"+c"});
    CHECK(f.recorders[1].take() == log_t{"+d"});
    CHECK(f.listen(1, "c"));
    });
}

TEST_CASE("notifications reach only the routes that want their channel", "[mux]") {
    mux_fixture f(3);
    f.inside([&] {
    f.listen(0, "a");
    f.listen(1, "b");
    f.listen(0, "both");
    f.listen(1, "both");
    f.real.round();
    for (auto& r : f.recorders) r.take();
    f.real.notify({{"a", "1"}, {"b", "2"}, {"both", "3"}, {"nobody", "4"}, {"a", "5"}});
    CHECK(f.recorders[0].take() == log_t{"a=1", "both=3", "a=5"});
    CHECK(f.recorders[1].take() == log_t{"b=2", "both=3"});
    CHECK(f.recorders[2].log.empty());
    });
}

TEST_CASE("with one route the batch passes through as it is", "[mux]") {
    mux_fixture f(1);
    f.inside([&] {
    f.listen(0, "a");
    f.real.round();
    f.recorders[0].take();
    f.real.notify({{"a", "1"}, {"other", "2"}});
    CHECK(f.recorders[0].batch_data == f.real.last_batch);  // the real input's own array: no copy
    CHECK(f.recorders[0].take() == log_t{"a=1", "other=2"});
    });
}

TEST_CASE("the real input stops with the last route, and snapshots keep their statement", "[mux]") {
    mux_fixture f;
    f.inside([&] {
    std::optional<std::string> got;
    f.ports[1]->snapshot(3, "u", [&](bool, std::optional<std::string> v) { got = v; });
    CHECK(got == "3:u");
    CHECK_THROWS_AS(f.mux.add_port(), std::logic_error);
    f.ports[0]->stop();
    CHECK(f.real.stops == 0);
    f.ports[1]->stop();
    CHECK(f.real.stops == 1);
    });
}

// Two real routers, each with its own registry, framing and channel table, on one input.
TEST_CASE("two routers share one input: one LISTEN, each frames its own events", "[mux]") {
    std::vector<std::unique_ptr<hub::loop>> loops;
    loops.push_back(std::make_unique<hub::loop>(0));
    auto& ioc = loops[0]->context();
    test::scripted_input input;
    hub::input_mux mux(ioc, input);
    auto& port_a = mux.add_port();
    auto& port_b = mux.add_port();
    channel_namer namer{"user_{user}", "^[0-9]{1,20}$"};
    hub::stream_registry streams_a(*loops[0]), streams_b(*loops[0]);
    hub::router::settings sa, sb;
    sa.event_name = "status";
    sa.wrap_field = "status";
    sb.payload = payload_mode::raw;  // unnamed, raw
    hub::router ra(ioc, port_a, sa, namer, streams_a), rb(ioc, port_b, sb, namer, streams_b);
    streams_a.attach(ra);
    streams_b.attach(rb);
    auto run = [&] {
        ioc.restart();
        ioc.poll();
    };
    input.on_loop = [&](std::function<void()> fn) {
        net::post(ioc, std::move(fn));
        run();
    };
    ra.start();
    rb.start();
    run();
    auto a = std::make_shared<test::recorder>(streams_a, "user_1", "1");
    auto b = std::make_shared<test::recorder>(streams_b, "user_1", "1");
    input.on_loop([&] {
        loops[0]->track(a);
        loops[0]->track(b);
        streams_a.subscribe(a);
        streams_b.subscribe(b);
    });
    CHECK(input.wanted == std::set<std::string>{"user_1"});
    input.confirm_all();
    CHECK(a->live == 1);
    CHECK(b->live == 1);
    CHECK(ra.ready());
    input.notify("user_1", "approved");
    REQUIRE(a->frames.size() == 1);
    REQUIRE(b->frames.size() == 1);
    CHECK(a->frames[0].find("event: status\ndata: {\"status\":\"approved\"}\n") != std::string::npos);
    CHECK(b->frames[0].find("\ndata: approved\n") != std::string::npos);
    CHECK(b->frames[0].find("event:") == std::string::npos);
    // Route A's last stream leaves: route B keeps the channel, and its events.
    input.on_loop([&] { a->close(hub::close_reason::client_closed); });
    CHECK(input.unlistened.empty());
    input.notify("user_1", "denied");
    CHECK(a->frames.size() == 1);
    CHECK(b->frames.size() == 2);
    input.on_loop([&] { b->close(hub::close_reason::client_closed); });
    CHECK(input.unlistened == std::vector<std::string>{"user_1"});
    ra.stop();
    rb.stop();
    run();
    CHECK(input.stopped);
}
