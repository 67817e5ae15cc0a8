#pragma once
// What the stream registry needs from a stream: the registry tells it when its channel is
// listened, hands it framed events and closes it. Thread rule: every call is made
// on the registry's loop, which is the stream's own thread.
#include "hub/close_reason.hpp"
#include "hub/events.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace gw::hub {

class subscriber {
public:
    virtual ~subscriber() = default;
    virtual const std::string& channel() const = 0;
    virtual const std::string& user() const = 0;
    // The channel's LISTEN is confirmed: the stream may start. Idempotent.
    virtual void go_live() = 0;
    // The answer to the registry's catch_up() for this stream: the replay or the
    // snapshot to send before the events that arrived meanwhile.
    virtual void caught_up(catch_up_reply reply) = 0;
    // Queue one framed event (shared by every recipient).
    virtual void send(const std::shared_ptr<const std::string>& frame) = 0;
    virtual void close(close_reason reason) = 0;
    // The registry's clock (each stream is visited about once a second): heartbeats
    // and deadlines are due here, so a stream needs no timer of its own.
    virtual void tick(std::chrono::steady_clock::time_point now) = 0;
};

}  // namespace gw::hub
