#pragma once
// The /metrics page: the stream registry's, the router's and the listener's counters in the
// Prometheus text exposition. Thread rule: any thread (reads relaxed atomics and
// the mutex-guarded refusal counts only).
#include "config.hpp"
#include "http/shared_state.hpp"
#include "hub/router.hpp"
#include "hub/stream_registry.hpp"
#include "pg/listener.hpp"

#include <memory>
#include <string>
#include <vector>

namespace gw::app {

std::string metrics_page(const config& cfg, const web::shared_state& state, const hub::router& router,
                         const pg::listener& listener, const hub::stream_registry& registry);

}  // namespace gw::app
