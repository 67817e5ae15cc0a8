#pragma once
// Every open stream, on the LISTEN loop (loop 0: see server.cpp): which channel
// each wants, when a channel's streams may start, the hand-over of framed events
// to them, and the tick that keeps their time. No locks and no thread hop: the
// router runs on the same loop and calls in directly.
//
// A channel entry is live once the router confirms the registry's latest request
// for it (matched by sequence number); its streams start then. The entry (and the
// interest in the LISTEN) goes away with its last stream.
//
// Thread rule: the home loop's thread only.
#include "hub/close_reason.hpp"
#include "hub/events.hpp"
#include "hub/loop.hpp"
#include "hub/subscriber.hpp"
#include "metrics.hpp"
#include "net.hpp"
#include "string_hash.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gw::hub {

class router;

class stream_registry {
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

    // The registry ticks (every 10 ms, a hundredth of its streams each) while it
    // holds streams, and sleeps once the last one is gone. attach() the router
    // (on the same loop) before the loop runs.
    explicit stream_registry(loop& home) : home_(home) {}
    void attach(router& r) { router_ = &r; }
    stream_registry(const stream_registry&) = delete;
    stream_registry& operator=(const stream_registry&) = delete;

    loop& home() { return home_; }
    net::io_context& context() { return home_.context(); }
    counters& stats() { return counters_; }
    const counters& stats() const { return counters_; }

    // A buffer for reads whose bytes are thrown away (streams only watch for EOF):
    // one, since the streams' reads complete one at a time.
    net::mutable_buffer scratch() { return net::buffer(scratch_); }
    // The time of the latest tick (every 10 ms while streams are open): a clock
    // for the per-event path, which must not read the real one per stream.
    std::chrono::steady_clock::time_point coarse_now() const { return coarse_now_; }
    void subscribe(const std::shared_ptr<subscriber>& s);
    void unsubscribe(const subscriber& s);
    // Ask the router how a stream that just went live catches up; its caught_up()
    // is called on this loop, unless the stream is gone by then.
    void catch_up(const std::shared_ptr<subscriber>& s, std::optional<std::uint64_t> last_seq);

    // From the router.
    // Hand one event to the channel's streams.
    void deliver(std::string_view channel, const frame_ptr& frame, std::chrono::steady_clock::time_point received);
    // Hand one event to every stream.
    void broadcast(const frame_ptr& frame);
    // The channel is listened for request `seq`: its streams start.
    void announce(const announcement& a);
    // The input lost its connection: no channel is live until announced again.
    void down();

private:
    void do_tick();
    // Visits due_[from...] a step at a time (see tick_step), then arms the next tick.
    void visit_due(std::size_t from, std::chrono::steady_clock::time_point now);
    void observe(std::chrono::steady_clock::time_point received);

    struct channel_entry {
        std::vector<std::weak_ptr<subscriber>> subs;
        std::uint64_t seq = 0;  // the latest LISTEN request for the channel
        bool live = false;
    };

    loop& home_;
    router* router_ = nullptr;
    counters counters_;
    std::unordered_map<std::string, channel_entry, string_hash, std::equal_to<>> channels_;
    std::uint64_t next_seq_ = 0;
    std::array<char, 512> scratch_{};
    net::steady_timer tick_timer_{home_.context()};
    std::array<std::vector<std::weak_ptr<subscriber>>, 100> ring_;  // streams by tick slot
    std::vector<std::shared_ptr<subscriber>> due_;                  // one tick's visits
    std::size_t next_tick_slot_ = 0;
    std::size_t next_ring_slot_ = 0;
    // Entries in ring_, closed streams included until their slot's visit. The tick
    // runs exactly while this is non-zero (it drops only inside the tick).
    std::size_t ring_entries_ = 0;
    std::chrono::steady_clock::time_point coarse_now_ = std::chrono::steady_clock::now();
};

}  // namespace gw::hub
