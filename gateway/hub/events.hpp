#pragma once
// The hub's vocabulary between the router and the shards: a framed event, a
// delivery of one to a shard, a channel's go-live announcement, and what a stream
// gets when it catches up.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gw::hub {

inline constexpr unsigned max_shards = 64;

// The SSE bytes of one event, framed once and shared by every recipient.
using frame_ptr = std::shared_ptr<const std::string>;

// A framed event and the channel it is for, as handed to a shard.
struct delivery {
    std::string channel;  // empty: a broadcast to every stream
    frame_ptr frame;
    std::chrono::steady_clock::time_point received;  // when the NOTIFY was read
};

// The shard's request number `seq` for the channel is satisfied: its streams may start.
struct announcement {
    unsigned shard;
    std::uint64_t seq;
    std::string channel;
};

// What a stream gets when it asks to catch up after going live.
struct catch_up_reply {
    std::vector<frame_ptr> frames;  // to send first, in order
    // The frames are a replay that already holds every event delivered to the
    // stream since it went live: drop those instead of sending them twice.
    bool replaces_held = false;
};

}  // namespace gw::hub
