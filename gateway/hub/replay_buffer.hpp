#pragma once
// The recent events of one channel, for Last-Event-ID. It can prove completeness:
// every event of the channel with a sequence number above floor() (when the
// channel's current LISTEN took effect) was pushed, and it remembers the newest
// sequence number it had to evict, so "everything after S" is answerable exactly
// when S is past both. Bounded by count and by age.
// Thread rule: call only from the router's thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gw::hub {

class replay_buffer {
public:
    using clock = std::chrono::steady_clock;
    using frame_ptr = std::shared_ptr<const std::string>;

    // Forget everything; events with a sequence number above `floor` will follow.
    void restart(std::uint64_t floor);
    void push(std::uint64_t seq, frame_ptr frame, clock::time_point now, std::size_t capacity, clock::duration max_age);
    // The frames after `seq`, in order, when the buffer proves none is missing;
    // nullopt when it cannot (seq from before the current LISTEN, evicted, or
    // newer than `newest_known`, i.e. not an id this process handed out).
    std::optional<std::vector<frame_ptr>> after(std::uint64_t seq, std::uint64_t newest_known, clock::time_point now,
                                                clock::duration max_age);

    std::uint64_t floor() const { return floor_; }
    std::size_t size() const { return events_.size(); }

private:
    struct event {
        std::uint64_t seq;
        clock::time_point at;
        frame_ptr frame;
    };
    void evict_older_than(clock::time_point limit);

    std::vector<event> events_;  // oldest first; a vector costs nothing while empty
    std::uint64_t floor_ = 0;
    std::uint64_t evicted_upto_ = 0;
};

}  // namespace gw::hub
