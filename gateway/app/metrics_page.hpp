#pragma once
// The /metrics page: each route's stream registry and router counters (labelled
// with the route's path), the listener's and the server-wide ones, in the
// Prometheus text exposition. Thread rule: any thread (reads relaxed atomics and
// the mutex-guarded refusal counts only).
#include "config.hpp"
#include "http/shared_state.hpp"
#include "hub/router.hpp"
#include "hub/stream_registry.hpp"
#include "pg/listener.hpp"

#include <string>
#include <vector>

namespace gw::app {

// One stream route's hub side, as the page reads it.
struct route_metrics {
    std::string_view path;
    const hub::router& router;
    const hub::stream_registry& registry;
};

// `listener`: the one LISTEN connection and query pool every route shares.
std::string metrics_page(const config& cfg, const web::shared_state& state, const std::vector<route_metrics>& routes,
                         const pg::listener& listener);

}  // namespace gw::app
