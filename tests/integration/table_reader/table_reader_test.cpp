// pg::table_reader, the reader of the durable events sources (issue 21), against
// a real PostgreSQL (DATABASE_URL, started by listener/with_postgres.sh, which
// also names the cluster's directory so a test can restart it) with
// deploy/sql/sse_gateway_events.sql installed: out-of-order commits, the
// doorbell, polling alone, a database restart mid-stream, resume, 1 MiB payloads,
// Solid Cable rows as the gem writes them, a missing schema, trimming.
#include "pg/listener.hpp"
#include "pg/pg_handles.hpp"
#include "pg/table_reader.hpp"
#include "listener_harness.hpp"
#include "log.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace gw;
using namespace std::chrono_literals;

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    REQUIRE(v != nullptr);
    return v;
}

std::string read_file(const char* path) {
    std::ifstream in(path);
    REQUIRE(in);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}


// A blocking libpq session of the test's own (a publisher, an admin).
struct session {
    session() : conn(PQconnectdb(env("DATABASE_URL").c_str())) { REQUIRE(PQstatus(conn.get()) == CONNECTION_OK); }
    // Runs `text` with text parameters; returns the first value ("" when none).
    std::string sql(const std::string& text, std::vector<std::string> params = {}) {
        std::vector<const char*> v;
        for (auto& p : params) v.push_back(p.c_str());
        pg::result_ptr r(PQexecParams(conn.get(), text.c_str(), static_cast<int>(v.size()), nullptr, v.data(),
                                      nullptr, nullptr, 0));
        const auto st = PQresultStatus(r.get());
        INFO(text << ": " << PQresultErrorMessage(r.get()));
        REQUIRE((st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK));
        if (st == PGRES_TUPLES_OK && PQntuples(r.get()) > 0 && !PQgetisnull(r.get(), 0, 0))
            return PQgetvalue(r.get(), 0, 0);
        return "";
    }
    void exec(const std::string& text) {
        pg::result_ptr r(PQexec(conn.get(), text.c_str()));
        const auto st = PQresultStatus(r.get());
        INFO(PQresultErrorMessage(r.get()));
        REQUIRE((st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK));
    }
    std::string publish(const std::string& channel, const std::string& payload) {
        return sql("SELECT sse_gateway_publish($1, $2)", {channel, payload});
    }
    // INSERT as SolidCable::Message.broadcast does (the hash computed by PostgreSQL).
    std::string cable_broadcast(const std::string& channel, const std::string& payload) {
        return sql("INSERT INTO solid_cable_messages (created_at, channel, payload, channel_hash) "
                   "VALUES (now()::timestamp, convert_to($1, 'UTF8'), convert_to($2, 'UTF8'), "
                   "('x' || encode(substring(sha256(convert_to($1, 'UTF8')) FROM 1 FOR 8), 'hex'))::bit(64)::bigint) "
                   "RETURNING id",
                   {channel, payload});
    }
    pg::conn_ptr conn;
};

void install() {
    session admin;
    admin.exec(
        "DROP TABLE IF EXISTS sse_gateway_events, sse_gateway_events_trimmed, solid_cable_messages CASCADE");
    admin.exec(read_file(SSE_GATEWAY_EVENTS_SQL));
    admin.exec(read_file(SOLID_CABLE_SCHEMA_SQL));
}

using payloads = std::vector<std::string>;

struct row {
    std::string channel, payload, event_id;
    bool operator==(const row&) const = default;
};

class recorder final : public pg::table_reader::receiver {
public:
    void on_rows(std::span<const pg::table_row> rows) override {
        for (const auto& r : rows) {
            got.push_back({std::string(r.channel), std::string(r.payload), std::string(r.event_id)});
            log.push_back("live:" + std::string(r.payload));
        }
        ++batches;
    }
    void on_status(pg::table_reader::status s, std::string_view reason) override {
        statuses.push_back(s);
        last_reason = std::string(reason);
    }
    std::vector<std::string> payloads() const {
        std::vector<std::string> out;
        for (const auto& r : got) out.push_back(r.payload);
        return out;
    }
    std::vector<row> got;
    std::vector<std::string> log;  // live rows and resume answers, in order
    std::vector<pg::table_reader::status> statuses;
    std::string last_reason;
    int batches = 0;
};

pg::table_reader::settings reader_settings(pg::table_source source = pg::table_source::table) {
    pg::table_reader::settings s;
    s.conninfo = env("DATABASE_URL");
    s.source = source;
    s.poll_interval = 10s;  // tests ring unless they test polling
    s.max_rows = 3;         // small: reads cut windows
    s.trim_interval = 0ms;
    s.backoff_base = 50ms;
    s.backoff_cap = 300ms;
    return s;
}
struct fixture : test::loop_driver {
    explicit fixture(pg::table_reader::settings s = reader_settings()) {
        if (std::getenv("TABLE_READER_DEBUG")) log::set_level(gw::log_level::debug);
        install();
        reader.emplace(ioc, std::move(s));
        net::post(ioc, [this] { reader->start(rec); });
    }
    ~fixture() {
        net::post(ioc, [this] { reader->stop(); });
        run_for(200ms);
    }
    struct resumed {
        std::optional<pg::table_reader::resume_result> result;
        payloads rows;
    };
    // resume() on the loop, waiting for its answer; the answer is logged in rec.log.
    resumed resume(const std::string& token, const std::string& channel) {
        resumed out;
        on_loop([&] {
            reader->resume(token, channel, [&](auto res, std::span<const pg::table_row> rows) {
                out.result = res;
                for (auto& r : rows) out.rows.push_back(std::string(r.payload));
                rec.log.push_back("resumed");
            });
            return true;
        });
        REQUIRE(run_until([&] { return out.result.has_value(); }));
        return out;
    }
    bool up() {
        return run_until([&] { return reader->state() == pg::table_reader::status::up; });
    }
    // Wants `c` and waits until a read covers it: the channel's feed starts there.
    void want(const std::string& c) {
        on_loop([&] {
            reader->want(c);
            return true;
        });
        REQUIRE(run_until([&] { return reader->settled(); }));
    }
    void ring() {
        on_loop([&] {
            reader->ring();
            return true;
        });
    }
    // Rings until `n` rows arrived, then waits a little more for any extra one.
    bool read_until(std::size_t n) {
        ring();
        bool ok = run_until([&] { return rec.got.size() >= n; });
        ring();
        run_for(200ms);
        return ok;
    }

    recorder rec;
    std::optional<pg::table_reader> reader;
};

}  // namespace

TEST_CASE("rows of wanted channels are handed out once, in id order, with their cursor as id", "[table_reader]") {
    fixture f;
    REQUIRE(f.up());
    f.want("a");
    session pub;
    pub.publish("a", "a1");
    pub.publish("b", "b1");  // nobody wants b
    pub.publish("a", "a2");
    for (int i = 3; i <= 7; ++i) pub.publish("a", "a" + std::to_string(i));  // more than max_rows
    REQUIRE(f.read_until(7));
    CHECK(f.rec.payloads() == payloads{"a1", "a2", "a3", "a4", "a5", "a6", "a7"});
    CHECK(f.rec.got.front().channel == "a");
    std::set<std::string> ids;
    for (const auto& r : f.rec.got) ids.insert(r.event_id);
    CHECK(ids.size() == 7);  // each row's own cursor
}

TEST_CASE("with more channels than the SQL filter takes, rows of other channels are dropped by the reader",
          "[table_reader]") {
    fixture f;
    REQUIRE(f.up());
    for (std::size_t i = 0; i < pg::table_sql::max_sql_channels; ++i) f.want("c" + std::to_string(i));
    f.want("a");  // one more: the read passes NULL (every channel)
    session pub;
    pub.publish("a", "a1");
    pub.publish("b", "b1");  // nobody wants b
    pub.publish("c7", "c1");
    REQUIRE(f.read_until(2));
    CHECK(f.rec.payloads() == payloads{"a1", "c1"});
}

TEST_CASE("a lower id committed after a higher one was handed out is handed out too, once", "[table_reader]") {
    fixture f;
    REQUIRE(f.up());
    f.want("a");
    session slow, fast;
    slow.exec("BEGIN");
    slow.publish("a", "lower");  // takes the lower id, commits last
    fast.publish("a", "higher");
    REQUIRE(f.read_until(1));
    CHECK(f.rec.payloads() == payloads{"higher"});
    slow.exec("COMMIT");
    REQUIRE(f.read_until(2));
    CHECK(f.rec.payloads() == payloads{"higher", "lower"});
    // Rolled back: never exists, nothing waits for it.
    slow.exec("BEGIN");
    slow.publish("a", "rolled back");
    fast.publish("a", "after");
    slow.exec("ROLLBACK");
    REQUIRE(f.read_until(3));
    CHECK(f.rec.payloads() == payloads{"higher", "lower", "after"});
}

TEST_CASE("the doorbell wakes a read long before the poll interval", "[table_reader]") {
    fixture f;  // polls every 10 s
    // The hub's part: a NOTIFY on sse_gateway_doorbell rings the reader.
    struct bell final : hub::event_input::receiver {
        pg::table_reader* reader = nullptr;
        bool listening = false;
        void on_notifications(std::span<const hub::notification>) override { reader->ring(); }
        void on_listen_changes(std::span<const hub::listen_change> c) override {
            for (auto& x : c) listening = x.listened;
        }
        void on_down() override {}
    } b;
    b.reader = &*f.reader;
    pg::listener::settings ls;
    ls.conninfo = env("DATABASE_URL");
    ls.queue_usage_interval = 0s;
    pg::listener doorbell(f.ioc, ls);
    net::post(f.ioc, [&] { doorbell.start(b); });
    REQUIRE(f.up());
    f.on_loop([&] { return doorbell.listen("sse_gateway_doorbell"); });
    REQUIRE(f.run_until([&] { return b.listening; }));
    f.want("a");
    f.run_for(300ms);  // the first read after connecting is done
    session pub;
    const auto t0 = std::chrono::steady_clock::now();
    pub.publish("a", "rung");
    REQUIRE(f.run_until([&] { return !f.rec.got.empty(); }));
    const auto latency = std::chrono::steady_clock::now() - t0;
    CHECK(latency < 1s);
    CHECK(f.rec.payloads() == payloads{"rung"});
    net::post(f.ioc, [&] { doorbell.stop(); });
    f.run_for(100ms);
}

TEST_CASE("polling alone reads the rows when the doorbell trigger is disabled", "[table_reader]") {
    auto s = reader_settings();
    s.poll_interval = 100ms;
    fixture f(s);
    REQUIRE(f.up());
    f.want("a");
    session pub;
    pub.exec("ALTER TABLE sse_gateway_events DISABLE TRIGGER sse_gateway_doorbell");
    f.run_for(300ms);
    pub.publish("a", "polled");
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(f.run_until([&] { return !f.rec.got.empty(); }));  // never rung
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    CHECK(f.rec.payloads() == payloads{"polled"});
}

TEST_CASE("the database restarted mid-stream: reading resumes from the cursor, nothing lost or doubled",
          "[table_reader]") {
    fixture f;
    REQUIRE(f.up());
    f.want("a");
    const std::string pgctl = "bash " + env("TMP_POSTGRES_SCRIPT") + " ";
    const std::string dir = env("TMP_POSTGRES_DIR");
    payloads want;
    int n = 0;
    auto publish = [&](session& pub) {
        want.push_back("e" + std::to_string(++n));
        pub.publish("a", want.back());
    };
    for (int round = 0; round < 2; ++round) {
        {
            session pub;
            for (int i = 0; i < 10; ++i) publish(pub);
            REQUIRE(f.read_until(want.size()));
            // Published, not read yet: then the server goes away during (or before) the read.
            for (int i = 0; i < 5; ++i) publish(pub);
        }
        f.ring();
        REQUIRE(std::system((pgctl + "down " + dir + " immediate").c_str()) == 0);
        f.run_for(300ms);
        REQUIRE(std::system((pgctl + "up " + dir).c_str()) == 0);
        {
            session pub;  // published before the reader is back
            for (int i = 0; i < 5; ++i) publish(pub);
        }
        REQUIRE(f.up());
        REQUIRE(f.read_until(want.size()));
    }
    CHECK(f.rec.payloads() == want);
    CHECK(f.reader->stats().reconnects.value() >= 2);
}

TEST_CASE("resume replays exactly what a token missed and joins the live feed", "[table_reader]") {
    fixture f;
    REQUIRE(f.up());
    f.want("a");
    session pub;
    for (int i = 1; i <= 5; ++i) pub.publish("a", "a" + std::to_string(i));
    pub.publish("b", "b1");
    REQUIRE(f.read_until(5));
    const std::string token = f.rec.got[1].event_id;  // the browser saw a1, a2
    pub.publish("a", "a6");                            // committed, not read by the live feed yet
    auto r = f.resume(token, "a");
    CHECK(r.result == pg::table_reader::resume_result::resumed);
    CHECK(r.rows == payloads{"a3", "a4", "a5", "a6"});
    // The live feed had a6 before the stream joined: the stream gets it once, from the replay.
    CHECK(f.rec.log == payloads{"live:a1", "live:a2", "live:a3", "live:a4", "live:a5", "live:a6", "resumed"});
    pub.publish("a", "a7");  // after the join: live only
    REQUIRE(f.read_until(7));
    CHECK(f.rec.log.back() == "live:a7");

    // Out of order: the token saw the higher id; the lower one commits later.
    session slow;
    slow.exec("BEGIN");
    slow.publish("a", "lower");
    pub.publish("a", "higher");
    REQUIRE(f.read_until(8));
    const std::string after_higher = f.rec.got.back().event_id;
    slow.exec("COMMIT");
    r = f.resume(after_higher, "a");
    CHECK(r.result == pg::table_reader::resume_result::resumed);
    CHECK(r.rows == payloads{"lower"});
    CHECK(f.rec.payloads().back() == "lower");  // and the live feed got it once
    REQUIRE(f.read_until(9));
    CHECK(f.rec.got.size() == 9);

    // Garbage, or another cluster's token: the snapshot instead.
    CHECK(f.resume("not a token", "a").result == pg::table_reader::resume_result::not_resumable);
}

TEST_CASE("a 1 MiB payload is handed out whole", "[table_reader]") {
    fixture f;
    REQUIRE(f.up());
    f.want("big");
    std::string payload;
    for (int i = 0; payload.size() < (1u << 20); ++i) payload += std::to_string(i) + ",";
    payload.resize(1u << 20);
    session pub;
    pub.publish("big", payload);
    REQUIRE(f.read_until(1));
    REQUIRE(f.rec.got.size() == 1);
    CHECK(f.rec.got[0].payload == payload);
}

TEST_CASE("Solid Cable rows as the gem writes them are read by channel hash, out of order too", "[table_reader]") {
    CHECK(pg::table_sql::solid_cable_hash("chat_1") == -1934204123788821583LL);  // Ruby: sha256[0,8].unpack1("q>")
    fixture f(reader_settings(pg::table_source::solid_cable));
    REQUIRE(f.up());
    f.want("chat_1");
    session app;
    app.cable_broadcast("chat_1", R"({"m":1})");
    app.cable_broadcast("chat_2", R"({"m":"other"})");
    app.cable_broadcast("chat_1", R"({"m":2})");
    REQUIRE(f.read_until(2));
    CHECK(f.rec.payloads() == payloads{R"({"m":1})", R"({"m":2})"});
    CHECK(f.rec.got[0].channel == "chat_1");

    session slow;
    slow.exec("BEGIN");
    slow.cable_broadcast("chat_1", "lower");
    app.cable_broadcast("chat_1", "higher");
    REQUIRE(f.read_until(3));
    const std::string token = f.rec.got.back().event_id;
    slow.exec("COMMIT");
    REQUIRE(f.read_until(4));
    CHECK(f.rec.payloads() == payloads{R"({"m":1})", R"({"m":2})", "higher", "lower"});

    // A browser that saw "higher" (before "lower" committed) resumes: gets "lower" once.
    auto r = f.resume(token, "chat_1");
    CHECK(r.result == pg::table_reader::resume_result::resumed);
    CHECK(r.rows == payloads{"lower"});
}

TEST_CASE("a missing function is reported by name, and reading starts once it is installed", "[table_reader]") {
    install();
    session admin;
    admin.exec("DROP FUNCTION sse_gateway_read(text, text[], integer)");
    test::loop_driver d;
    recorder rec;
    pg::table_reader reader(d.ioc, reader_settings());
    net::post(d.ioc, [&] { reader.start(rec); });
    REQUIRE(d.run_until([&] { return reader.state() == pg::table_reader::status::schema_missing; }));
    CHECK(reader.reason().find("sse_gateway_read(text, text[], integer)") != std::string::npos);
    CHECK(rec.last_reason == reader.reason());
    admin.exec(read_file(SSE_GATEWAY_EVENTS_SQL));
    REQUIRE(d.run_until([&] { return reader.state() == pg::table_reader::status::up; }));
    net::post(d.ioc, [&] { reader.stop(); });
    d.run_for(100ms);
}

TEST_CASE("rows older than the retention are trimmed", "[table_reader]") {
    auto s = reader_settings();
    s.retention = 60s;
    s.trim_interval = 100ms;
    s.trim_max_rows = 2;  // several calls
    fixture f(s);
    REQUIRE(f.up());
    session pub;
    for (int i = 0; i < 5; ++i) pub.publish("a", "old");
    pub.publish("a", "new");
    pub.exec("UPDATE sse_gateway_events SET created_at = now() - interval '1 hour' WHERE payload = 'old'");
    REQUIRE(f.run_until([&] { return f.reader->stats().trimmed.value() == 5; }));
    CHECK(pub.sql("SELECT string_agg(payload, ',') FROM sse_gateway_events") == "new");
}
