#include "http/request_route.hpp"

namespace gw::web {

namespace {

bool is_ops(std::string_view path) {
    return path == "/healthz" || path == "/readyz" || path == "/metrics";
}

routing refused(refusal why, bool close, std::string_view allow = "GET", std::string_view cors_origin = {},
                route_state* r = nullptr) {
    return {route::refused, why, close, allow, cors_origin, r};
}

}  // namespace

std::string_view path_of(std::string_view target) {
    return target.substr(0, target.find('?'));
}

routing route_request(const request_parser& parser, const shared_state& state, admission admit, listener_role role) {
    const auto& head = parser.get().base();
    // Closed after the answer: the bytes after this head cannot be trusted to be
    // a request of their own.
    if (const auto problem = head_problem(head)) return refused(*problem, true);
    // Read, a chunked body's trailers would join the fields (Beast merges them):
    // nothing after the header block may act as a header, so the body is never
    // read, and the connection closes since what follows it is not a request.
    // The parser is done after the head exactly when the head announces no body
    // (no Transfer-Encoding, no Content-Length above 0).
    if (!parser.is_done()) return refused(refusal::body_not_allowed, true);
    const auto path = path_of(head.target());
    const bool ops = is_ops(path);
    const bool served = role == listener_role::combined || (role == listener_role::ops) == ops;
    // Beyond --max-connections only the probes and metrics are answered, so a full
    // gateway stays alive (and says it is not ready) instead of looking dead.
    if (admit == admission::ops_only && !(ops && served)) return refused(refusal::max_connections, true);
    const bool close = !parser.keep_alive();
    if (auto* r = role != listener_role::ops ? state.route_at(path) : nullptr) {
        const bool cors = !r->cfg.cors_origins.empty();
        const std::string_view allow = cors ? "GET, OPTIONS" : "GET";
        std::string_view origin;
        if (auto o = head.find(http::field::origin); o != head.end() && r->cors_allows(o->value())) origin = o->value();
        if (head.method() == http::verb::options) {
            if (!cors) return refused(refusal::method_not_allowed, close, allow, origin, r);
            if (origin.empty()) return refused(refusal::cors_origin, close, allow, {}, r);
            return {route::preflight, std::nullopt, close, allow, origin, r};
        }
        if (head.method() != http::verb::get) return refused(refusal::method_not_allowed, close, allow, origin, r);
        return {route::stream, std::nullopt, close, allow, origin, r};
    }
    if (!ops || !served) return refused(refusal::not_found, close);
    if (head.method() != http::verb::get) return refused(refusal::method_not_allowed, close);
    const auto where = path == "/healthz" ? route::healthz : path == "/readyz" ? route::readyz : route::metrics;
    return {where, std::nullopt, close, "GET", {}};
}

}  // namespace gw::web
