#pragma once
// The one LISTEN connection, and the per-channel delivery state around it.
// Readable means PQconsumeInput, collect command results, drain PQnotifies.
// Pending LISTEN/UNLISTEN statements go out together as one batch; the
// connection is re-opened with capped, jittered exponential backoff, every wanted
// channel is listened again, and then each is caught up with the snapshot query
// (only a payload that differs from the channel's last event is sent). An idle
// connection is pinged (an empty query) so a silently dead one -- no RST, no
// error, just nothing -- is noticed within two ping intervals, not at the next
// TCP keepalive verdict. Never a blocking libpq call, never an explicit transaction.
//
// Each notification gets a sequence number (the event id), is framed once, kept
// in its channel's replay buffer and posted to the shards that want it.
//
// Thread rule: runs on one single-threaded io_context (the server gives it shard
// 0's). The public methods may be called from any thread: they post onto it. Hooks and callbacks are
// called on the listener's thread and must only post elsewhere.
#include "metrics.hpp"
#include "net.hpp"
#include "pg/connection.hpp"
#include "pg/listen_set.hpp"
#include "pg/query_pool.hpp"
#include "pg/queue_monitor.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace gw::pg {

using frame_ptr = std::shared_ptr<const std::string>;

// A framed event and the channel it is for, as handed to a shard.
struct delivery {
    std::string channel;  // empty: a broadcast to every stream
    frame_ptr frame;
    std::chrono::steady_clock::time_point received;  // when the NOTIFY was read
};

// What a stream gets when it asks to catch up after going live.
struct catch_up_reply {
    std::vector<frame_ptr> frames;  // to send first, in order
    // The frames are a replay that already holds every event delivered to the
    // stream since it went live: drop those instead of sending them twice.
    bool replaces_held = false;
};

class listener {
public:
    struct hooks {
        // Frames a payload with the given sequence number (called once per event).
        std::function<frame_ptr(std::uint64_t seq, std::string_view payload)> frame;
        std::function<void(unsigned shard, std::vector<delivery>)> deliver;
        std::function<void(unsigned shard, std::vector<listen_set::announcement>)> announce;
        // The connection went down: shards must treat their channels as not listened.
        std::function<void()> down;
        // Shared-channel mode: the per-user channel a payload is for, if any.
        std::function<std::optional<std::string>(std::string_view payload)> route_shared;
    };

    struct settings {
        std::string conninfo;
        std::string snapshot_sql;  // empty: no snapshots
        unsigned snapshot_pool = 2;
        std::chrono::milliseconds snapshot_timeout{5000};
        std::size_t replay_size = 64;
        std::chrono::seconds replay_age{300};
        std::string shared_channel;     // non-empty: shared-channel mode, user id in the payload
        std::string broadcast_channel;  // non-empty: events here reach every stream
        unsigned shards = 1;            // how many shards there are (broadcasts reach each)
        // An idle connection is pinged this often, and lost if the answer takes as long.
        std::chrono::seconds ping_interval{15};
        // pg_notification_queue_usage() is read this often on the query pool (0: never).
        std::chrono::seconds queue_usage_interval{15};
    };

    struct counters {
        metrics::counter notifications;  // NOTIFY messages received
        metrics::counter unrouted;       // received for a channel nobody wants any more
        metrics::counter reconnects;     // connection re-established after a loss
        metrics::counter failures;       // connection attempts or connections that failed
        metrics::counter replays;        // Last-Event-ID requests answered from the buffer
        metrics::counter snapshots;      // snapshot events sent (per stream or per channel)
        metrics::counter catch_ups;      // channels compared with the snapshot after a loss
        metrics::gauge channels;         // channels currently listened
        metrics::gauge up;               // 1 while connected
    };

    listener(net::io_context& ioc, settings s, hooks h);
    ~listener();
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;

    void start();
    void add(std::string channel, std::string user, unsigned shard, std::uint64_t seq);
    void remove(std::string channel, unsigned shard);
    // A stream just went live: replay after `last_seq` if provable, else run the
    // snapshot; `reply` is called exactly once, on the listener's thread.
    void catch_up(std::string channel, std::optional<std::uint64_t> last_seq,
                  std::function<void(catch_up_reply)> reply);
    // Closes the connections and stops reconnecting.
    void stop();

    // Connected, every wanted channel listened, nothing in flight.
    bool ready() const { return ready_.load(std::memory_order_relaxed); }
    const counters& stats() const { return counters_; }
    const query_pool::counters* snapshot_stats() const { return snapshots() ? &pool_->stats() : nullptr; }
    // Null when the queue usage is not read.
    const queue_monitor* queue_usage() const { return queue_.get(); }

private:
    enum class state { idle, connecting, connected, stopped };

    void do_connect();
    void on_connected();
    void do_wait_read();
    void on_readable();
    void schedule_batch();
    void do_batch();
    void on_batch_result(PGresult* r);
    void route_notifications();
    void publish(const std::string& channel, std::string_view payload,
                 std::vector<std::vector<delivery>>& per_shard);
    void publish_broadcast(std::string_view payload, std::vector<std::vector<delivery>>& per_shard);
    void flush_deliveries(std::vector<std::vector<delivery>>& per_shard);
    void catch_up_channel(const std::string& channel, unsigned attempt);
    void lost(std::string_view what);
    void schedule_reconnect();
    void arm_ping(std::chrono::steady_clock::duration after);
    void on_ping_timer();
    void update_ready();
    bool snapshots() const { return !settings_.snapshot_sql.empty(); }

    net::io_context& ioc_;
    settings settings_;
    hooks hooks_;
    counters counters_;
    listen_set set_;
    connection conn_;
    // Snapshots and the queue-usage reads; null when there are neither.
    std::unique_ptr<query_pool> pool_;
    std::unique_ptr<queue_monitor> queue_;  // declared after the pool it uses

    state state_ = state::idle;
    std::uint64_t seq_ = 0;  // the newest event sequence number handed out
    bool batch_scheduled_ = false;
    bool command_in_flight_ = false;
    bool command_failed_ = false;
    bool ping_in_flight_ = false;  // the command in flight is a liveness ping
    bool ever_connected_ = false;
    unsigned attempt_ = 0;
    net::steady_timer retry_timer_;
    net::steady_timer ping_timer_;
    std::mt19937_64 rng_;
    std::atomic<bool> ready_{false};
};

}  // namespace gw::pg
