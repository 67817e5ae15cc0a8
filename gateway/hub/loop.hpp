#pragma once
// One event-loop thread: its io_context and the sessions open on it, so that a
// drain can close them. Loop 0 also runs the LISTEN connection, the router and
// every stream (stream_registry.hpp); the other loops take connections: parse,
// authenticate, answer probes, /metrics and refusals, and hand the socket of an
// accepted stream to loop 0 (server.cpp says why).
//
// Thread rule: track()/untrack() on the loop's thread; post_* from any thread.
#include "hub/close_reason.hpp"
#include "net.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <unordered_map>

namespace gw::hub {

// Anything a loop must be able to close at shutdown (HTTP sessions, streams).
class closable {
public:
    virtual ~closable() = default;
    virtual void close(close_reason reason) = 0;
};

class loop {
public:
    explicit loop(unsigned index) : index_(index) {}
    loop(const loop&) = delete;
    loop& operator=(const loop&) = delete;

    unsigned index() const { return index_; }
    net::io_context& context() { return ioc_; }

    // Loop thread only.
    std::uint64_t track(std::weak_ptr<closable> c);
    void untrack(std::uint64_t id);

    // Any thread.
    // Close every tracked session, spread uniformly over `spread`.
    void post_drain(std::chrono::milliseconds spread);
    // Close whatever is still open, now.
    void post_close_all();

private:
    unsigned index_;
    net::io_context ioc_{1};
    std::unordered_map<std::uint64_t, std::weak_ptr<closable>> tracked_;
    std::uint64_t next_track_id_ = 0;
    std::mt19937 rng_{std::random_device{}()};
};

}  // namespace gw::hub
