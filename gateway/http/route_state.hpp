#pragma once
// One stream route's own state: its settings (a [[route]] table, or the flags'
// route), where its channel comes from (the user through the channel namer, or
// turbo-rails' signed stream name), its per-user stream counts, the bytes its
// streams share (head, heartbeat, goodbye, expired, 503), and the hub side it
// feeds from: its stream registry, on loop 0 like every registry. What is
// server-wide (the identity chain, the connection counts, the refusal counts)
// stays in shared_state.
// Thread rule: immutable after the server wires it (streams, boot_id) before the
// first accept, except user_counts (its own mutex); any loop thread may read it.
#include "channel_namer.hpp"
#include "config.hpp"
#include "hub/user_counts.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace gw::hub {
class stream_registry;
}

namespace gw::web {

class route_state {
public:
    explicit route_state(route_config r);
    route_state(const route_state&) = delete;
    route_state& operator=(const route_state&) = delete;

    const route_config cfg;
    // User routes name a user's channel; a Turbo route's namer ("{user}") is
    // never asked for one (its channel is the verified name), but the router
    // takes a namer for shared channel mode, which a Turbo route never uses.
    const channel_namer namer;
    hub::user_counts users;  // an empty user (a Turbo route without auth) is not counted

    // Bytes every stream of the route shares, built once.
    std::shared_ptr<const std::string> stream_head;
    std::shared_ptr<const std::string> heartbeat;
    std::shared_ptr<const std::string> goodbye;      // the retry hint sent before a drain close
    std::shared_ptr<const std::string> expired;      // the event that ends a stream whose credentials expired
    std::shared_ptr<const std::string> unavailable;  // the 503 of a stream whose channel was not listened in time

    // Set by the server before the first accept: where the route's streams live,
    // and its router's event-id prefix (a Last-Event-ID with another is foreign).
    hub::stream_registry* streams = nullptr;
    std::string boot_id;

    bool turbo() const { return cfg.key == route_key::turbo_signed_stream; }
    // True when the Origin is one of the route's cors-origins (exact match).
    bool cors_allows(std::string_view origin) const;
    // The route's head, or one carrying CORS fields for `origin` when non-empty.
    std::shared_ptr<const std::string> head_for(std::string_view cors_origin) const;
};

}  // namespace gw::web
