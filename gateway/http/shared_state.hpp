#pragma once
// What every HTTP session may read: the stream routes (route_state: each one's
// settings, channel namer, user counts and stream bytes), the identity chain they
// share, and the server-wide counters and probes. Built once by the server before
// the first accept.
// Thread rule: immutable after construction except the atomics and the
// mutex-guarded refusal counts, so any loop thread may use it.
#include "auth/auth_chain.hpp"
#include "config.hpp"
#include "http/refusal.hpp"
#include "http/route_state.hpp"
#include "metrics.hpp"
#include "turbo/verifier_slot.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace gw::web {

struct shared_state {
    shared_state(const config& c);

    const config& cfg;
    // The Turbo routes' signed-stream verifier, fed by the chain's secret_key_base
    // loads (declared first: the chain fills it as it is built). Empty without a
    // Turbo route.
    turbo::verifier_slot turbo_names;
    // One chain for every route, holding each mode any route names, its
    // credentials loaded once and reloaded together (SIGHUP); a route asks only
    // its own modes (authenticate_for).
    auth::auth_chain auth;
    // cfg.routes in order (the flags' one route when cfg.routes is empty).
    std::vector<std::unique_ptr<route_state>> routes;

    // The route served at exactly `path`, or null.
    route_state* route_at(std::string_view path) const;
    // The identity the route's auth modes give the request (its modes in its order).
    auth::auth_result authenticate_for(const route_state& route, const auth::request_context& req) const;

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

    // Refusals by status, reason and route path (empty for a request no route
    // took), not a per-event path: a mutex is fine. The string form is for
    // identity and signed-name refusals, whose reasons gw::auth and gw::turbo name.
    using refusal_key = std::tuple<std::string, std::string, std::string>;  // kind, reason, route
    void count_refusal(refusal why, std::string_view route = {});
    void count_refusal(const std::string& kind, const std::string& reason, std::string_view route = {});
    std::map<refusal_key, std::uint64_t> refusals() const;

private:
    mutable std::mutex refusals_mutex_;
    std::map<refusal_key, std::uint64_t> refusals_;
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
