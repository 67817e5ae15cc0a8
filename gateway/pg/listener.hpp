#pragma once
// The one LISTEN connection: the hub's event input (hub/event_input.hpp).
// Readable means PQconsumeInput, collect command results, drain PQnotifies and
// hand what arrived to the receiver as one batch. Pending LISTEN/UNLISTEN
// statements go out together as one batch; the connection is re-opened with
// capped, jittered exponential backoff and every wanted channel is listened
// again (the receiver hears on_down, then each channel's listen_change). An idle
// connection is pinged (an empty query) so a silently dead one -- no RST, no
// error, just nothing -- is noticed within two ping intervals, not at the next
// TCP keepalive verdict. Never a blocking libpq call, never an explicit
// transaction. The libpq calls go through pg::wire (pg/wire.hpp), so unit tests
// can run this logic without a server. Beside it, the query pool runs the
// snapshot statements (one per route that has one) and the queue-usage reads.
//
// Thread rule: runs on one single-threaded io_context, the receiver's. Every
// method is called on that thread, except settled() and the stats.
#include "hub/event_input.hpp"
#include "metrics.hpp"
#include "net.hpp"
#include "pg/listen_state.hpp"
#include "pg/query_pool.hpp"
#include "pg/queue_monitor.hpp"
#include "pg/wire.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace gw::pg {

class listener final : public hub::event_input {
public:
    struct settings {
        std::string conninfo;
        // The snapshot statements ($1 = user id), indexed by snapshot()'s `query`;
        // empty: no snapshots.
        std::vector<std::string> snapshot_sqls;
        unsigned snapshot_pool = 2;
        std::chrono::milliseconds snapshot_timeout{5000};
        // An idle connection is pinged this often, and lost if the answer takes as long.
        std::chrono::milliseconds ping_interval{15000};
        // pg_notification_queue_usage() is read this often on the query pool (0: never).
        std::chrono::seconds queue_usage_interval{15};
    };

    struct counters {
        metrics::counter notifications;  // NOTIFY messages received
        metrics::counter reconnects;     // connection re-established after a loss
        metrics::counter failures;       // connection attempts or connections that failed
        metrics::gauge channels;         // channels currently listened
        metrics::gauge up;               // 1 while connected
    };

    // `conn` is the LISTEN connection; null: a libpq one (pg::connection) to
    // s.conninfo. Unit tests pass a scripted one.
    listener(net::io_context& ioc, settings s, std::unique_ptr<wire> conn = nullptr);
    ~listener() override;
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;

    // hub::event_input
    void start(receiver& r) override;
    void stop() override;
    bool listen(const std::string& channel) override;
    void unlisten(const std::string& channel) override;
    bool up() const override { return state_ == state::connected; }
    bool settled() const override { return settled_.load(std::memory_order_relaxed); }
    void snapshot(std::size_t query, const std::string& user, snapshot_callback done) override;

    bool has_snapshots() const { return !settings_.snapshot_sqls.empty(); }

    const counters& stats() const { return counters_; }
    const query_pool::counters* snapshot_stats() const { return has_snapshots() ? &pool_->stats() : nullptr; }
    // Null when the queue usage is not read.
    const queue_monitor* queue_usage() const { return queue_.get(); }

private:
    enum class state { idle, connecting, connected, stopped };
    // The one command the connection runs at a time: LISTEN/UNLISTEN statements,
    // or the liveness ping (an empty query).
    enum class command { none, listen_batch, ping };

    void do_connect();
    void on_connected();
    void do_wait_read();
    void on_readable();
    void schedule_batch();
    void do_batch();
    void on_batch_result(PGresult* r);
    void hand_out_notifications();
    void lost(std::string_view what);
    void schedule_reconnect();
    void arm_ping(std::chrono::steady_clock::duration after);
    void on_ping_timer();
    void update_settled();

    net::io_context& ioc_;
    settings settings_;
    receiver* receiver_ = nullptr;
    counters counters_;
    listen_state set_;
    std::unique_ptr<wire> conn_;
    // Snapshots and the queue-usage reads; null when there are neither.
    std::unique_ptr<query_pool> pool_;
    std::unique_ptr<queue_monitor> queue_;  // declared after the pool it uses

    state state_ = state::idle;
    bool batch_scheduled_ = false;
    command command_ = command::none;  // in flight
    bool ever_connected_ = false;
    unsigned attempt_ = 0;
    net::steady_timer retry_timer_;
    net::steady_timer ping_timer_;
    std::mt19937_64 rng_;
    std::atomic<bool> settled_{false};
    // One read's notifications: libpq's structs, and views of them for the receiver
    // (kept to reuse their capacity).
    std::vector<notify_ptr> notifies_;
    std::vector<hub::notification> batch_;
};

}  // namespace gw::pg
