#include "http/shared_state.hpp"

#include <algorithm>

namespace gw::web {

namespace {

// The identity chain holds every mode some route names, in the order first named.
config chain_config(const config& c) {
    config out = c;
    out.auth_modes.clear();
    const auto routes = c.routes.empty() ? std::vector<route_config>{route_from_flags(c)} : c.routes;
    for (const auto& r : routes)
        for (const auto& m : r.auth_modes)
            if (std::find(out.auth_modes.begin(), out.auth_modes.end(), m) == out.auth_modes.end())
                out.auth_modes.push_back(m);
    return out;
}

bool has_turbo_route(const config& c) {
    for (const auto& r : c.routes)
        if (r.key == route_key::turbo_signed_stream) return true;
    return false;
}

}  // namespace

bool shared_state::accepting_streams() const {
    // The connection asking counts too: at the limit, the next stream would be refused.
    const bool full = static_cast<std::uint64_t>(connections.value()) > cfg.max_connections;
    // A gateway that has no keys yet from its JWKS URL would refuse every token.
    return !draining.load() && !full && ready() && auth.keys_ready();
}

shared_state::shared_state(const config& c)
    : cfg(c),
      auth(chain_config(c), has_turbo_route(c) ? auth::auth_chain::rails_bases_sink(
                                                     [this](const auto& bases) { turbo_names.set(bases); })
                                               : auth::auth_chain::rails_bases_sink()) {
    if (c.routes.empty())
        routes.push_back(std::make_unique<route_state>(route_from_flags(c)));
    else
        for (const auto& r : c.routes) routes.push_back(std::make_unique<route_state>(r));
}

route_state* shared_state::route_at(std::string_view path) const {
    for (const auto& r : routes)
        if (r->cfg.path == path) return r.get();
    return nullptr;
}

auth::auth_result shared_state::authenticate_for(const route_state& route, const auth::request_context& req) const {
    return auth.authenticate(req, route.cfg.auth_modes);
}

void shared_state::count_refusal(const std::string& kind, const std::string& reason, std::string_view route) {
    std::lock_guard lock(refusals_mutex_);
    ++refusals_[{kind, reason, std::string(route)}];
}

void shared_state::count_refusal(refusal why, std::string_view route) {
    const auto& text = text_of(why);
    count_refusal(std::string(text.kind), std::string(text.reason), route);
}

std::map<shared_state::refusal_key, std::uint64_t> shared_state::refusals() const {
    std::lock_guard lock(refusals_mutex_);
    return refusals_;
}

}  // namespace gw::web
