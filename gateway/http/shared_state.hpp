#pragma once
// What every HTTP session may read: the route settings, the identity chain, the
// channel namer, the per-user stream counts, and the server-wide counters and
// probes. Built once by the server before the first accept.
// Thread rule: immutable after construction except the atomics and the
// mutex-guarded refusal counts, so any loop thread may use it.
#include "auth/auth_chain.hpp"
#include "channel_namer.hpp"
#include "config.hpp"
#include "http/refusal.hpp"
#include "hub/user_counts.hpp"
#include "metrics.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace gw::web {

struct shared_state {
    shared_state(const config& c);

    const config& cfg;
    auth::auth_chain auth;
    channel_namer namer;
    hub::user_counts users;

    // Bytes every live stream starts with, built once and shared.
    std::shared_ptr<const std::string> stream_head;
    std::shared_ptr<const std::string> heartbeat;
    std::shared_ptr<const std::string> goodbye;      // the retry hint sent before a drain close
    std::shared_ptr<const std::string> expired;      // the event that ends a stream whose credentials expired
    std::shared_ptr<const std::string> unavailable;  // the 503 of a stream whose channel was not listened in time

    // This process's event-id prefix: a Last-Event-ID with another is foreign.
    std::string boot_id;

    // True when the Origin is one of --cors-origins (exact match).
    bool cors_allows(std::string_view origin) const;

    // Server-wide probes, set by the server.
    std::function<bool()> ready;  // the hub's part: every needed channel listened

    // What /readyz and the ready gauge say: the hub is ready, the gateway is
    // not draining, and it is not full (past --max-connections a stream is refused,
    // so a load balancer should send new ones elsewhere).
    bool accepting_streams() const;
    std::function<std::string()> metrics_text;

    metrics::gauge connections;        // on the public listener
    metrics::gauge ops_connections;    // on --ops-listen's
    metrics::counter header_timeouts;  // connections cut for no complete head within --header-timeout
    std::atomic<bool> draining{false};

    // Refusals by status and reason (not a per-event path: a mutex is fine). The
    // string form is for identity refusals, whose reasons gw::auth names.
    void count_refusal(refusal why);
    void count_refusal(const std::string& kind, const std::string& reason);
    std::map<std::pair<std::string, std::string>, std::uint64_t> refusals() const;

private:
    mutable std::mutex refusals_mutex_;
    std::map<std::pair<std::string, std::string>, std::uint64_t> refusals_;
};

// Holds one unit of the connection gauge for as long as it lives; moves with the
// socket from the HTTP session to the stream.
class connection_slot {
public:
    explicit connection_slot(metrics::gauge& g) : g_(&g) { g_->add(1); }
    connection_slot(connection_slot&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
    connection_slot& operator=(connection_slot&&) = delete;
    ~connection_slot() {
        if (g_) g_->add(-1);
    }

private:
    metrics::gauge* g_;
};

}  // namespace gw::web
