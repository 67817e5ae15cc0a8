#pragma once
// The reader of a durable events source (issue 21): deploy/sql/sse_gateway_events.sql's
// sse_gateway_events (`source = "table"`) or Rails' solid_cable_messages
// (`source = "solid-cable"`), on one connection of its own, driven non-blockingly
// on the Asio loop through pg::connection (the listener's and the query pool's
// connection seam).
//
// It keeps one cursor for all channels (an opaque token, starting at "now") and
// reads with sse_gateway_read / sse_gateway_solid_cable_read when rung (the hub
// calls ring() on a NOTIFY on `sse_gateway_doorbell`) and every poll interval,
// continuing at once while the function says `more`. At most one read is in
// flight and one more is queued, however often it is rung. Rows of channels that
// are wanted are handed to the receiver as batches; the cursor advances only
// once a statement's whole result has arrived and been handed out, and is kept
// across reconnects, so a database lost mid-read costs nothing: the next
// connection reads again from it (nothing lost, nothing doubled).
//
// resume() joins a browser's Last-Event-ID to the live feed without gap or
// overlap (proto_docs/delivery.md, "Joining a resumed stream to the live feed").
// A missing table or function is found at connect and reported, naming it.
//
// Thread rule: runs on one single-threaded io_context; every method is called on
// that thread, the receiver and the resume callbacks are called on it.
#include "metrics.hpp"
#include "net.hpp"
#include "pg/connection.hpp"
#include "pg/table_sql.hpp"
#include "string_hash.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace gw::pg {

// One event read from the table. Views into the reader's buffers, valid during
// the call that hands it out.
struct table_row {
    std::string_view channel;
    std::string_view payload;                           // text (table) or the bytes the gem stored (solid cable)
    std::string_view event_id;                          // the SSE `id:`: the cursor just after this row, opaque
    std::chrono::steady_clock::time_point received_at;  // when its read's result arrived
};

class table_reader {
public:
    struct settings {
        std::string conninfo;
        table_source source = table_source::table;
        // The fallback to the doorbell; 0: read only when rung (and after a reconnect).
        std::chrono::milliseconds poll_interval{100};
        // Rows per statement; bounds the memory of one result (max_rows x payload size).
        unsigned max_rows = 200;
        // Table source only (the Solid Cable gem trims its own rows): every
        // trim_interval, sse_gateway_trim(retention, trim_max_rows); 0: never.
        std::chrono::seconds retention{86400};
        std::chrono::milliseconds trim_interval{60000};
        unsigned trim_max_rows = 10000;
        // A statement unanswered this long costs the connection (a silently dead peer).
        std::chrono::milliseconds statement_timeout{30000};
        // Reconnects back off exponentially from base to cap, jittered.
        std::chrono::milliseconds backoff_base{250};
        std::chrono::milliseconds backoff_cap{10000};
    };

    enum class status {
        down,            // not connected (yet, or lost): reading resumes from the cursor once back
        up,              // connected, schema present, cursor set: reading
        schema_missing,  // connected, but a table or function is missing: the reason names it
    };

    class receiver {
    public:
        virtual ~receiver() = default;
        // Rows of wanted channels, in the order read (id order within a window).
        virtual void on_rows(std::span<const table_row> rows) = 0;
        // Every change of status(); `reason` says why (the connection error, or
        // the missing objects), empty when up.
        virtual void on_status(status s, std::string_view reason) = 0;
    };

    enum class resume_result {
        resumed,        // `rows` are exactly what the token had not seen, up to the live feed
        not_resumable,  // unknown, malformed, trimmed or from another database: use the snapshot
        failed,         // the query failed again and again, or the reader stopped
    };
    // The rows (channel's only) are valid during the call; the live feed of the
    // channel continues right after them with the rows the receiver gets next.
    using resume_callback = std::function<void(resume_result, std::span<const table_row> rows)>;

    struct counters {
        metrics::counter reads;       // statements reading the source
        metrics::counter rows;        // rows handed out (wanted channels)
        metrics::counter resumes;     // resume() answered `resumed`
        metrics::counter trimmed;     // rows deleted by sse_gateway_trim
        metrics::counter reconnects;  // connection re-established after a loss
        metrics::counter failures;    // connection attempts, connections or statements that failed
        metrics::gauge up;            // 1 while status() is up
    };

    table_reader(net::io_context& ioc, settings s);
    ~table_reader();
    table_reader(const table_reader&) = delete;
    table_reader& operator=(const table_reader&) = delete;

    void start(receiver& r);
    // Closes the connection; pending resume callbacks are answered `failed`.
    void stop();

    // The channels that have streams. Rows of other channels are never handed out.
    // A new channel counts from the first read sent after want() (which rings):
    // a read already in flight may drop its rows, so the channel's live feed
    // starts at a consistent cursor, the end of that read, and settled() turns
    // true once a read that carried it completed (as a LISTEN's confirmation).
    // For a resume, call want() before resume() (or in its callback).
    void want(const std::string& channel);
    void drop(const std::string& channel);
    // Every wanted channel is covered by a completed read.
    bool settled() const { return covered_gen_ == wanted_gen_; }

    // The doorbell: read soon. Coalesced with the read in flight and one queued.
    void ring();

    // Replays what `token` (a Last-Event-ID of this source) had not seen of
    // `channel`, and the live feed continues right after: the callback is called
    // after every live row up to the replay's end was handed to the receiver, so
    // a stream that joins the channel in it misses nothing and gets nothing twice.
    // Waits while the reader is down; answered `failed` at once while the schema
    // is missing. The callback is always called (also on stop()): the caller
    // checks there whether its stream still exists.
    void resume(std::string token, std::string channel, resume_callback done);

    status state() const { return status_; }
    // Why the status is not up (names the missing objects when schema_missing).
    const std::string& reason() const { return reason_; }
    // The live cursor (empty until the first connection set it).
    const std::string& cursor() const { return cursor_; }
    const counters& stats() const { return counters_; }

private:
    enum class step {
        none,
        check_schema,
        start_cursor,
        read,
        begin_resume,
        resumable,
        resume_live,  // drain the live cursor inside the resume's transaction
        resume_token,
        commit_resume,
        trim,
    };
    struct resume_request {
        std::string token;
        std::string channel;
        resume_callback done;
        unsigned attempts = 0;
    };
    // A read's rows, kept (owned) while a resume's replay drains.
    struct owned_row {
        std::string channel;
        std::string payload;
        std::string event_id;
    };

    void do_connect();
    void on_connected();
    void pump();
    void send(step s, const char* sql, std::vector<std::optional<std::string>> params);
    void on_readable();
    void on_result(PGresult* r);
    void on_complete(step s);
    void on_schema_checked();
    void become_up();
    void send_read(step s, const std::string& cursor, std::optional<std::string> filter);
    bool take_trailer(PGresult* r, int row);
    void hand_out_live(PGresult* r);
    void collect_replay(PGresult* r);
    void finish_resume(resume_result res);
    void schedule_reconnect(std::chrono::milliseconds after);
    void lost(std::string_view what);
    void set_status(status s, std::string reason);
    void arm_poll();
    void arm_trim();
    bool is_resume(step s) const { return s >= step::begin_resume && s <= step::commit_resume; }
    const std::optional<std::string>& channels_param();

    net::io_context& ioc_;
    settings settings_;
    table_sql sql_;
    receiver* receiver_ = nullptr;
    connection conn_;
    counters counters_;
    status status_ = status::down;
    std::string reason_;
    bool connecting_ = false;
    bool stopped_ = false;
    bool ever_connected_ = false;
    unsigned attempt_ = 0;

    std::string cursor_;  // the live cursor; kept across connections
    std::unordered_set<std::string, string_hash, std::equal_to<>> wanted_;
    std::optional<std::string> channels_param_;  // the SQL filter for wanted_, rebuilt when it changed
    bool channels_dirty_ = true;
    std::uint64_t wanted_gen_ = 0;   // bumped by each new wanted channel
    std::uint64_t step_gen_ = 0;     // wanted_gen_ when the read in flight was sent
    std::uint64_t covered_gen_ = 0;  // the same for the last read completed

    step step_ = step::none;    // the statement in flight
    std::uint64_t sent_ = 0;    // statements sent: the statement deadline's tag
    bool step_failed_ = false;  // an error result arrived for it
    std::string step_error_;
    bool read_queued_ = false;  // rung (or polled) since the read in flight was sent
    bool read_more_ = false;    // the last read said `more`
    bool trim_due_ = false;
    // The step's result, decided when its last result arrived.
    bool result_more_ = false;
    std::string result_next_;
    std::string result_value_;

    std::deque<resume_request> resumes_;  // the front one is in progress when step_ is a resume step
    bool resumable_ = false;
    std::string replay_cursor_;
    std::vector<owned_row> replay_;

    std::vector<table_row> batch_;  // reused
    net::steady_timer retry_timer_;
    net::steady_timer statement_timer_;
    net::steady_timer poll_timer_;
    net::steady_timer trim_timer_;
    std::mt19937_64 rng_;
};

}  // namespace gw::pg
