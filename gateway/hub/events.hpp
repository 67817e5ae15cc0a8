#pragma once
// The hub's vocabulary between the router and the stream registry: a framed
// event, a channel's go-live announcement, and what a stream gets when it
// catches up.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gw::hub {

// The SSE bytes of one event, framed once and shared by every recipient.
using frame_ptr = std::shared_ptr<const std::string>;

// The registry's request number `seq` for the channel is satisfied: its streams may start.
struct announcement {
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
