// pg::listener's own logic over a scripted wire (no server): the liveness ping
// and its timeout, a LISTEN batch the server refuses, and a connection lost in
// the middle of a batch. The same listener against a real PostgreSQL is
// tests/integration/listener/.
#include "pg/listener.hpp"
#include "listener_harness.hpp"
#include "scripted_wire.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace gw;
using namespace std::chrono_literals;
using step = pg::test::scripted_wire::step;

namespace {

struct fixture : test::loop_driver {
    explicit fixture(std::chrono::milliseconds ping = 1h) : listener(ioc, settings(ping), make_wire()) {
        net::post(ioc, [this] { listener.start(receiver); });
    }
    ~fixture() {
        net::post(ioc, [this] { listener.stop(); });
        run_for(20ms);
    }
    static pg::listener::settings settings(std::chrono::milliseconds ping) {
        pg::listener::settings s;
        s.conninfo = "scripted";
        s.ping_interval = ping;
        s.queue_usage_interval = 0s;  // with no snapshot statement either: no query pool
        return s;
    }
    std::unique_ptr<pg::wire> make_wire() {
        auto w = std::make_unique<pg::test::scripted_wire>(ioc);
        wire = w.get();
        return w;
    }
    bool listen(const std::string& channel) {
        return on_loop([&] { return listener.listen(channel); });
    }
    // The server answers the command in flight.
    void answer(std::initializer_list<step> steps) {
        wire->answer.assign(steps);
        wire->make_readable();
    }
    std::size_t pings_sent() const {
        return static_cast<std::size_t>(std::count(wire->sent.begin(), wire->sent.end(), ""));
    }

    test::recording_receiver receiver;
    pg::test::scripted_wire* wire = nullptr;  // owned by the listener
    pg::listener listener;
};

}  // namespace

TEST_CASE("an unanswered ping loses the connection after two intervals, and it is re-opened", "[listener]") {
    fixture f(20ms);
    REQUIRE(f.run_until([&] { return f.listener.up(); }));
    const auto connected = std::chrono::steady_clock::now();
    REQUIRE(f.run_until([&] { return f.pings_sent() == 1; }));
    CHECK(f.receiver.downs == 0);
    REQUIRE(f.run_until([&] { return f.receiver.downs == 1; }));  // the server never answers
    CHECK(std::chrono::steady_clock::now() - connected >= 30ms);  // sent after one interval, given one more
    CHECK_FALSE(f.listener.up());
    CHECK(f.listener.stats().failures.value() == 1);
    CHECK(f.listener.stats().up.value() == 0);
    CHECK(f.wire->teardowns >= 1);
    CHECK(f.pings_sent() == 1);  // the deadline is not a second ping
    // Backoff, then a new connection.
    REQUIRE(f.run_until([&] { return f.listener.up(); }));
    CHECK(f.wire->connects == 2);
    CHECK(f.listener.stats().reconnects.value() == 1);
}

TEST_CASE("an answered ping keeps the connection", "[listener]") {
    fixture f(50ms);  // the test answers within it
    REQUIRE(f.run_until([&] { return f.listener.up(); }));
    for (std::size_t n = 1; n <= 5; ++n) {
        REQUIRE(f.run_until([&] { return f.pings_sent() == n && f.wire->waiting_readable(); }));
        f.answer({step::empty_query, step::end});
    }
    REQUIRE(f.run_until([&] { return f.pings_sent() == 6; }));
    CHECK(f.receiver.downs == 0);
    CHECK(f.listener.up());
    CHECK(f.listener.stats().failures.value() == 0);
}

TEST_CASE("a ping that fails loses the connection", "[listener]") {
    fixture f(10ms);
    REQUIRE(f.run_until([&] { return f.pings_sent() == 1 && f.wire->waiting_readable(); }));
    f.answer({step::error, step::end});
    REQUIRE(f.run_until([&] { return f.receiver.downs == 1; }));
    CHECK(f.listener.stats().failures.value() == 1);
}

TEST_CASE("a LISTEN batch the server refuses loses the connection, and the next one listens again", "[listener]") {
    fixture f;
    REQUIRE(f.run_until([&] { return f.listener.up(); }));
    CHECK_FALSE(f.listen("ch_a"));
    REQUIRE(f.run_until([&] { return f.wire->sent.size() == 1; }));
    CHECK(f.wire->sent[0] == "LISTEN \"ch_a\";");
    f.answer({step::error, step::end});
    REQUIRE(f.run_until([&] { return f.receiver.downs == 1; }));
    CHECK(f.receiver.change_calls == 0);  // nothing of the refused batch is reported
    CHECK(f.listener.stats().failures.value() == 1);
    CHECK(f.listener.stats().channels.value() == 0);
    CHECK_FALSE(f.listener.settled());
    // Re-opened: the wanted channel is listened again without being asked.
    REQUIRE(f.run_until([&] { return f.wire->sent.size() == 2; }));
    CHECK(f.wire->sent[1] == "LISTEN \"ch_a\";");
    f.answer({step::ok, step::end});
    REQUIRE(f.run_until([&] { return f.receiver.listened["ch_a"]; }));
    CHECK(f.listener.settled());
    CHECK(f.listener.stats().channels.value() == 1);
    CHECK(f.listen("ch_a"));  // listened now: nothing more will be reported
}

TEST_CASE("a connection lost in the middle of a batch reports nothing of it and listens again", "[listener]") {
    fixture f;
    REQUIRE(f.run_until([&] { return f.listener.up(); }));
    f.on_loop([&] {
        f.listener.listen("ch_a");
        f.listener.listen("ch_b");
        return true;
    });
    REQUIRE(f.run_until([&] { return f.wire->sent.size() == 1; }));
    CHECK(f.wire->sent[0] == "LISTEN \"ch_a\";LISTEN \"ch_b\";");
    f.answer({step::ok});  // the first statement's result; the rest never comes
    REQUIRE(f.run_until([&] { return f.wire->answer.empty() && f.wire->waiting_readable(); }));
    CHECK(f.receiver.change_calls == 0);
    f.wire->read_fails = true;
    f.wire->make_readable();
    REQUIRE(f.run_until([&] { return f.receiver.downs == 1; }));
    CHECK(f.receiver.change_calls == 0);
    CHECK(f.listener.stats().failures.value() == 1);
    f.wire->read_fails = false;
    REQUIRE(f.run_until([&] { return f.wire->sent.size() == 2; }));
    const auto& again = f.wire->sent[1];
    CHECK((again == "LISTEN \"ch_a\";LISTEN \"ch_b\";" || again == "LISTEN \"ch_b\";LISTEN \"ch_a\";"));
    f.answer({step::ok, step::ok, step::end});
    REQUIRE(f.run_until([&] { return f.receiver.listened["ch_a"] && f.receiver.listened["ch_b"]; }));
    CHECK(f.listener.settled());
}

TEST_CASE("notifications read with a batch's results are handed out together", "[listener]") {
    fixture f;
    REQUIRE(f.run_until([&] { return f.listener.up(); }));
    f.listen("ch_a");
    REQUIRE(f.run_until([&] { return f.wire->sent.size() == 1; }));
    f.wire->notifies = {{"ch_a", "one"}, {"ch_a", "two"}};
    f.answer({step::ok, step::end});
    REQUIRE(f.run_until([&] { return f.receiver.received.size() == 2; }));
    CHECK(f.receiver.received[1] == std::pair<std::string, std::string>{"ch_a", "two"});
    CHECK(f.receiver.listened["ch_a"]);
    CHECK(f.listener.stats().notifications.value() == 2);
}
