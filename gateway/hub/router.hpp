#pragma once
// The hub's event path: what turns notifications from the input into events on
// streams. Each notification gets a sequence number (the event id), is framed
// once, kept in its channel's replay buffer and handed to the stream registry,
// on the same thread: no queue, no wake-up of another loop. Shared-mode payloads are routed to their user's channel by
// the user id inside; a broadcast channel reaches every stream. The router also
// decides which channels the input listens on (from the registry's interests), runs
// the snapshot catch-up when the input comes back after a loss, and answers a
// stream that goes live with a replay or a snapshot.
//
// Thread rule: runs on the input's io_context, loop 0's, where every stream
// lives. add/remove/catch_up post onto it (the registry calls them from inside
// its own handlers, so they never re-enter it). The receiver methods are the
// input's, on that thread.
#include "channel_namer.hpp"
#include "config.hpp"
#include "hub/channel_table.hpp"
#include "hub/event_framer.hpp"
#include "hub/event_input.hpp"
#include "hub/events.hpp"
#include "metrics.hpp"
#include "net.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace gw::hub {

class stream_registry;

class router final : public event_input::receiver {
public:
    struct settings {
        std::string event_name;  // the SSE "event:" field; empty: unnamed events
        std::string wrap_field;  // payload status: a non-object payload is wrapped in {"<field>": ...}
        payload_mode payload = payload_mode::status;  // what a payload becomes as data (event_framer.hpp)
        std::size_t replay_size = 64;
        std::chrono::seconds replay_age{300};
        // per_user: a channel per user. shared: every user's events come on
        // shared_channel, the user id in the payload's shared_user_field.
        channel_mode mode = channel_mode::per_user;
        std::string shared_channel;
        std::string shared_user_field;
        std::string broadcast_channel;  // non-empty: events here reach every stream
        // The input's snapshot statement for this route (event_input::snapshot);
        // nullopt: the route has none, so streams catch up by replay only.
        std::optional<std::size_t> snapshot_query;
    };

    struct counters {
        metrics::counter unrouted;   // notifications for channels nobody wants any more
        metrics::counter replays;    // Last-Event-ID requests answered from the buffer
        metrics::counter snapshots;  // snapshot events sent (per stream or per channel)
        metrics::counter catch_ups;  // channels compared with the snapshot after a loss
    };

    // `streams` (on `ioc`) outlives the router.
    router(net::io_context& ioc, event_input& input, settings s, const channel_namer& namer, stream_registry& streams);
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    void start();
    void stop();

    // The registry gained its first (request `seq`) / lost its last stream on the channel.
    void add(std::string channel, std::string user, std::uint64_t seq);
    void remove(std::string channel);
    // A stream just went live: replay after `last_seq` if provable, else the
    // channel's snapshot, one query shared by every stream waiting for it (and by
    // the catch-up after a loss). `reply` is called once, on the router's thread,
    // unless the channel is dropped first (its last stream left).
    void catch_up(std::string channel, std::optional<std::uint64_t> last_seq,
                  std::function<void(catch_up_reply)> reply);
    // The hub is ready exactly when its input has done every LISTEN asked of it.
    bool ready() const { return input_.settled(); }
    const counters& stats() const { return counters_; }
    const std::string& boot_id() const { return framer_.boot_id(); }

    // event_input::receiver
    void on_notifications(std::span<const notification> batch) override;
    void on_listen_changes(std::span<const listen_change> changes) override;
    void on_down() override;

private:
    void publish(std::string_view channel, std::string_view payload, std::chrono::steady_clock::time_point at);
    void publish_broadcast(std::string_view payload);
    void announce(channel_table::update u);
    // The channel's snapshot query, one at a time, for the streams waiting on it
    // and for the catch-up after a loss; on_snapshot() shares out its answer.
    void query_snapshot(const std::string& channel);
    void on_snapshot(const std::string& channel, std::uint64_t id, bool ok, std::optional<std::string> value);
    std::optional<std::string> shared_route(std::string_view payload) const;
    bool shared_mode() const { return settings_.mode == channel_mode::shared; }
    bool has_snapshots() const { return settings_.snapshot_query.has_value(); }

    net::io_context& ioc_;
    event_input& input_;
    settings settings_;
    const channel_namer& namer_;
    stream_registry& streams_;
    event_framer framer_;
    channel_table table_;
    counters counters_;
    std::uint64_t seq_ = 0;  // the newest event sequence number handed out
    std::uint64_t last_query_id_ = 0;
    bool stopped_ = false;
};

}  // namespace gw::hub
