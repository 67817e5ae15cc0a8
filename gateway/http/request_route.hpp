#pragma once
// Where a request goes, decided from its head alone: the one routing decision a
// session acts on, and the one the fuzz target tests/fuzz/fuzz_http_head.cpp
// checks. Only the header block may decide: the routes take no body, so a
// request that carries one is refused before any field is used.
// Thread rule: pure function over the head and the (read-only) shared state.
#include "http/refusal.hpp"
#include "http/request_head.hpp"
#include "http/shared_state.hpp"
#include "net.hpp"

#include <optional>
#include <string_view>

namespace gw::web {

// What the accept loop decided from the connection count (see server::do_accept).
enum class admission {
    open,      // within --max-connections: every route
    ops_only,  // in the reserve beyond it: /healthz, /readyz, /metrics; 503 otherwise
    refused,   // beyond the reserve too: 503 without reading the request
};

// Which routes a listener serves (see --ops-listen).
enum class listener_role {
    combined,     // everything: no --ops-listen
    public_only,  // the stream routes; the ops routes are 404
    ops,          // /healthz, /readyz, /metrics; everything else is 404
};

enum class route { stream, preflight, healthz, readyz, metrics, refused };

struct routing {
    route where = route::refused;
    std::optional<refusal> why;           // set when `where` is refused
    bool close = false;                   // close after the answer: what follows cannot be trusted
    std::string_view allow = "GET";       // the methods the requested route answers (405's Allow)
    std::string_view cors_origin;         // the head's Origin when the route's cors-origins allow it
    route_state* stream_route = nullptr;  // the stream route asked for (stream, preflight, and its refusals)
};

// `parser` holds a head read by feed_head, and nothing after it.
routing route_request(const request_parser& parser, const shared_state& state, admission admit, listener_role role);

// The path of a request target: what precedes its query.
std::string_view path_of(std::string_view target);

}  // namespace gw::web
