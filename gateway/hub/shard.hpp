#pragma once
// A shard is one event-loop thread's world: its io_context, its sessions and its
// channel -> streams map. No locks: the router and the server talk to a shard
// only by posting onto its context, and a shard talks to the router the same way
// (the one exception: the router delivers directly to the shard whose thread it
// shares).
//
// A channel entry is live once the router confirms the shard's latest request
// for it (matched by sequence number); its streams start then. The entry (and the
// shard's interest in the LISTEN) goes away with its last stream.
//
// Thread rule: methods without "post_" are called only on the shard's thread;
// post_* may be called from any thread.
#include "hub/close_reason.hpp"
#include "hub/events.hpp"
#include "hub/subscriber.hpp"
#include "metrics.hpp"
#include "net.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gw::hub {

class router;

// Anything the shard must be able to close at shutdown (HTTP sessions, streams).
class closable {
public:
    virtual ~closable() = default;
    virtual void close(close_reason reason) = 0;
};

class shard {
public:
    struct counters {
        metrics::gauge streams;                                   // streams open (pending or live)
        metrics::counter events_written;                          // events queued to live streams
        metrics::counter streams_opened;                          // streams that went live
        metrics::histogram notify_to_write;                       // NOTIFY read -> queued to the streams' sockets
        metrics::histogram tick;                                  // loop time of one tick step (heartbeats, deadlines)
        std::array<metrics::counter, close_reason_count> closes;  // by index_of(reason)

        void count_close(close_reason reason) { closes[index_of(reason)].inc(); }
    };

    // The shard ticks (every 10 ms, a hundredth of its streams each) while it holds
    // streams, and sleeps once the last one is gone. attach() the router before the
    // context runs.
    explicit shard(unsigned index);
    void attach(router& r) { router_ = &r; }
    shard(const shard&) = delete;
    shard& operator=(const shard&) = delete;

    unsigned index() const { return index_; }
    net::io_context& context() { return ioc_; }
    counters& stats() { return counters_; }
    const counters& stats() const { return counters_; }

    // Shard thread only.
    // A buffer for reads whose bytes are thrown away (streams only watch for EOF):
    // one per shard, since its sessions' reads complete one at a time.
    net::mutable_buffer scratch() { return net::buffer(scratch_); }
    void subscribe(const std::shared_ptr<subscriber>& s);
    // Ask the router how a stream that just went live catches up; its caught_up()
    // is called on this shard's thread, unless the stream is gone by then.
    void catch_up(const std::shared_ptr<subscriber>& s, std::optional<std::uint64_t> last_seq);
    // Hand each event to its channel's streams (the batch is left as it was).
    void deliver(const std::vector<delivery>& batch);
    void unsubscribe(const subscriber& s);
    std::uint64_t track(std::weak_ptr<closable> c);
    void untrack(std::uint64_t id);

    // Any thread.
    void post_deliver(std::vector<delivery> batch);
    void post_announce(std::vector<announcement> live);
    void post_down();
    // Close every tracked session, spread uniformly over `spread`.
    void post_drain(std::chrono::milliseconds spread);
    // Close whatever is still open, now.
    void post_close_all();

private:
    void broadcast(const frame_ptr& frame);
    void do_tick();
    // Visits due_[from...] a step at a time (see tick_step), then arms the next tick.
    void visit_due(std::size_t from, std::chrono::steady_clock::time_point now);
    std::vector<std::shared_ptr<subscriber>> all_subscribers() const;

    struct channel_entry {
        std::vector<std::weak_ptr<subscriber>> subs;
        std::uint64_t seq = 0;  // this shard's latest LISTEN request for the channel
        bool live = false;
    };

    unsigned index_;
    router* router_ = nullptr;
    net::io_context ioc_{1};
    counters counters_;
    std::unordered_map<std::string, channel_entry> channels_;
    std::unordered_map<std::uint64_t, std::weak_ptr<closable>> tracked_;
    std::uint64_t next_seq_ = 0;
    std::uint64_t next_track_id_ = 0;
    std::mt19937 rng_{std::random_device{}()};
    std::array<char, 512> scratch_{};
    net::steady_timer tick_timer_{ioc_};
    std::array<std::vector<std::weak_ptr<subscriber>>, 100> ring_;  // streams by tick slot
    std::vector<std::shared_ptr<subscriber>> due_;                  // one tick's visits
    std::size_t next_tick_slot_ = 0;
    std::size_t next_ring_slot_ = 0;
    // Entries in ring_, closed streams included until their slot's visit. The tick
    // runs exactly while this is non-zero (it drops only inside the tick).
    std::size_t ring_entries_ = 0;
};

}  // namespace gw::hub
