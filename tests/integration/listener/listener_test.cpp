// pg::listener, the hub's event input, against a real PostgreSQL (DATABASE_URL,
// started by with_postgres.sh): LISTEN/UNLISTEN reported as they take effect,
// notifications handed out as batches, a terminated backend reported down and
// every wanted channel listened again, and the snapshot query.
#include "pg/listener.hpp"
#include "listener_harness.hpp"
#include "pg/pg_handles.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

using namespace gw;
using namespace std::chrono_literals;

namespace {

std::string database_url() {
    const char* url = std::getenv("DATABASE_URL");
    REQUIRE(url != nullptr);
    return url;
}

struct listener_fixture : test::loop_driver {
    listener_fixture() : listener(ioc, settings()), admin(PQconnectdb(database_url().c_str())) {
        REQUIRE(PQstatus(admin.get()) == CONNECTION_OK);
        net::post(ioc, [this] { listener.start(receiver); });
    }
    ~listener_fixture() {
        net::post(ioc, [this] { listener.stop(); });
        run_for(1s);
    }
    static pg::listener::settings settings() {
        pg::listener::settings s;
        s.conninfo = database_url();
        s.snapshot_sqls = {"SELECT $1::text || '-state'", "SELECT 'second ' || $1::text"};
        s.queue_usage_interval = 0s;
        return s;
    }
    void sql(const std::string& text) {
        pg::result_ptr r(PQexec(admin.get(), text.c_str()));
        const auto st = PQresultStatus(r.get());
        REQUIRE((st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK));
    }

    test::recording_receiver receiver;
    pg::listener listener;
    pg::conn_ptr admin;
};

}  // namespace

TEST_CASE("a LISTEN is reported once it took effect, and its notifications are handed out", "[listener]") {
    listener_fixture f;
    REQUIRE(f.run_until([&] { return f.listener.up(); }));
    CHECK_FALSE(f.on_loop([&] { return f.listener.listen("ch_a"); }));  // not yet: reported later
    REQUIRE(f.run_until([&] { return f.receiver.listened["ch_a"]; }));
    CHECK(f.listener.settled());
    CHECK(f.on_loop([&] { return f.listener.listen("ch_a"); }));  // already listened: true at once
    f.sql("NOTIFY ch_a, 'hello'");
    f.sql("NOTIFY ch_other, 'not for us'");
    f.sql("NOTIFY ch_a, 'again'");
    REQUIRE(f.run_until([&] { return f.receiver.received.size() >= 2; }));
    f.run_for(1s);  // anything else would have come by now
    CHECK(f.receiver.received ==
          std::vector<std::pair<std::string, std::string>>{{"ch_a", "hello"}, {"ch_a", "again"}});
    CHECK(f.listener.stats().notifications.value() == 2);
}

TEST_CASE("an UNLISTEN is reported, and the channel's notifications stop", "[listener]") {
    listener_fixture f;
    f.on_loop([&] { return f.listener.listen("ch_b"); });
    REQUIRE(f.run_until([&] { return f.receiver.listened["ch_b"]; }));
    f.on_loop([&] {
        f.listener.unlisten("ch_b");
        return true;
    });
    REQUIRE(f.run_until([&] { return !f.receiver.listened["ch_b"]; }));
    CHECK(f.listener.stats().channels.value() == 0);
    f.sql("NOTIFY ch_b, 'late'");
    f.run_for(1s);  // a late notification would have come by now
    CHECK(f.receiver.received.empty());
}

TEST_CASE("a terminated backend is reported down and every wanted channel is listened again", "[listener]") {
    listener_fixture f;
    f.on_loop([&] { return f.listener.listen("ch_c"); });
    REQUIRE(f.run_until([&] { return f.receiver.listened["ch_c"]; }));
    f.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sse-gateway'");
    REQUIRE(f.run_until([&] { return f.receiver.downs == 1; }));
    CHECK_FALSE(f.listener.settled());
    REQUIRE(f.run_until([&] { return f.receiver.listened["ch_c"]; }));  // back, without being asked again
    CHECK(f.listener.stats().reconnects.value() == 1);
    f.sql("NOTIFY ch_c, 'after'");
    REQUIRE(f.run_until([&] { return !f.receiver.received.empty(); }));
    CHECK(f.receiver.received.back().second == "after");
}

TEST_CASE("the snapshot query runs on its own connection with the user id", "[listener]") {
    listener_fixture f;
    // Runs statement `query` for user 7 and waits for the answer.
    auto ask = [&](std::size_t query) {
        std::optional<std::pair<bool, std::optional<std::string>>> answer;
        net::post(f.ioc, [&] {
            f.listener.snapshot(query, "7",
                                [&](bool ok, std::optional<std::string> v) { answer.emplace(ok, std::move(v)); });
        });
        REQUIRE(f.run_until([&] { return answer.has_value(); }));
        return *answer;
    };
    CHECK(ask(0) == std::pair<bool, std::optional<std::string>>{true, "7-state"});
    // Each route has its own statement, by index; one the listener was not given fails.
    CHECK(ask(1) == std::pair<bool, std::optional<std::string>>{true, "second 7"});
    CHECK_FALSE(ask(2).first);
}

TEST_CASE("channel names with quotes, spaces, colons and non-ASCII are LISTENed as they are", "[listener]") {
    listener_fixture f;
    // What Rails' adapter and turbo-rails make: a prefix joined with ':' to any
    // text. Each must be one identifier, quoted, so a quote inside cannot end it
    // and no case is folded.
    const std::vector<std::string> names = {
        R"(app:gid://app/Room/1)", R"(say "hi"; LISTEN x)", "two  spaces", "caf\xc3\xa9:\xe6\x97\xa5", "MixedCase",
        "ends with \\", "it's"};
    for (const auto& n : names) f.on_loop([&] { return f.listener.listen(n); });
    REQUIRE(f.run_until([&] { return f.receiver.listened.size() == names.size(); }));
    for (const auto& n : names) {
        INFO(n);
        CHECK(f.receiver.listened[n]);
        std::string literal;  // standard_conforming_strings: only the quote needs doubling
        for (char c : n) literal += c == '\'' ? std::string("''") : std::string(1, c);
        f.sql("SELECT pg_notify('" + literal + "', 'p')");
    }
    REQUIRE(f.run_until([&] { return f.receiver.received.size() >= names.size(); }));
    std::vector<std::string> got;
    for (const auto& [ch, payload] : f.receiver.received) got.push_back(ch);
    CHECK(got == names);
}
