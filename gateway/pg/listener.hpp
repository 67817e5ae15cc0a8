#pragma once
// The one LISTEN connection. Non-blocking libpq driven by Asio: PQsocket is
// watched through a posix::stream_descriptor that never owns the fd; readable
// means PQconsumeInput, collect command results, drain PQnotifies. Pending
// LISTEN/UNLISTEN statements go out together as one batch; the connection is
// re-opened with capped, jittered exponential backoff and every wanted channel is
// listened again. Never a blocking libpq call, never an explicit transaction.
//
// Thread rule: runs on its own io_context (one thread). add(), remove() and
// stop() may be called from any thread: they post onto that context. The hooks
// are called on the listener's thread and must only post elsewhere.
#include "metrics.hpp"
#include "net.hpp"
#include "pg/listen_set.hpp"
#include "pg/pg_handles.hpp"

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

// A framed event and the channel it is for, as handed to a shard.
struct delivery {
    std::string channel;
    std::shared_ptr<const std::string> frame;
};

class listener {
public:
    struct hooks {
        // Turns a payload into the bytes every subscriber gets (called once per notification).
        std::function<std::shared_ptr<const std::string>(std::string_view channel, std::string_view payload)> frame;
        std::function<void(unsigned shard, std::vector<delivery>)> deliver;
        std::function<void(unsigned shard, std::vector<listen_set::announcement>)> announce;
        // The connection went down: shards must treat their channels as not listened.
        std::function<void()> down;
    };

    struct counters {
        metrics::counter notifications;  // NOTIFY messages received
        metrics::counter unrouted;       // received for a channel nobody wants any more
        metrics::counter reconnects;     // connection (re)established after a loss
        metrics::counter failures;       // connection attempts or connections that failed
        metrics::gauge channels;         // channels currently listened
        metrics::gauge up;               // 1 while connected
    };

    listener(net::io_context& ioc, std::string conninfo, hooks h);
    ~listener();
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;

    void start();
    void add(std::string channel, unsigned shard, std::uint64_t seq);
    void remove(std::string channel, unsigned shard);
    // Closes the connection and stops reconnecting; completion is observable as the
    // io_context running out of work.
    void stop();

    // Connected, every wanted channel listened, nothing in flight.
    bool ready() const { return ready_.load(std::memory_order_relaxed); }
    const counters& stats() const { return counters_; }

private:
    enum class state { idle, connecting, connected, stopped };

    void do_connect();
    void on_connect_poll(PostgresPollingStatusType poll);
    void on_connected();
    void do_wait_read();
    void on_readable();
    void do_flush();
    void schedule_batch();
    void do_batch();
    void on_batch_result(PGresult* r);
    void route_notifications();
    void lost(std::string_view what);
    void schedule_reconnect();
    void teardown();
    bool watch_socket();
    void update_ready();

    net::io_context& ioc_;
    std::string conninfo_;
    hooks hooks_;
    counters counters_;
    listen_set set_;

    conn_ptr conn_;
    std::optional<net::posix::stream_descriptor> sock_;
    int sock_fd_ = -1;
    std::uint64_t gen_ = 0;  // bumped at teardown: completions of an older connection are ignored
    state state_ = state::idle;
    bool batch_scheduled_ = false;
    bool command_in_flight_ = false;
    bool command_failed_ = false;
    bool write_waiting_ = false;
    bool ever_connected_ = false;
    unsigned attempt_ = 0;
    net::steady_timer retry_timer_;
    net::steady_timer connect_deadline_;
    std::mt19937_64 rng_;
    std::atomic<bool> ready_{false};
};

}  // namespace gw::pg
