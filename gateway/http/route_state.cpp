#include "http/route_state.hpp"

#include "http/responses.hpp"
#include "payload_rule.hpp"
#include "sse_frame.hpp"

namespace gw::web {

namespace {

channel_namer namer_for(const route_config& r) {
    if (r.key == route_key::turbo_signed_stream) return channel_namer("{user}", default_user_pattern);
    return channel_namer(r.channel_template, r.user_pattern);
}

}  // namespace

route_state::route_state(route_config r)
    : cfg(std::move(r)),
      namer(namer_for(cfg)),
      users(cfg.max_streams_per_user),
      stream_head(std::make_shared<const std::string>(stream_head_text(cfg.retry, {}))),
      heartbeat(std::make_shared<const std::string>(sse::heartbeat)),
      goodbye(std::make_shared<const std::string>("retry: " + std::to_string(cfg.retry.count()) + "\n\n")),
      expired(std::make_shared<const std::string>(
          "event: expired\ndata: " + error_body("credentials_expired", "the credentials expired; sign in again") +
          "\n\n")),
      unavailable(std::make_shared<const std::string>(closing_bytes(error_response(refusal::database_unavailable)))) {}

bool route_state::cors_allows(std::string_view origin) const {
    for (const auto& o : cfg.cors_origins)
        if (o == origin) return true;
    return false;
}

std::shared_ptr<const std::string> route_state::head_for(std::string_view cors_origin) const {
    if (cors_origin.empty()) return stream_head;
    return std::make_shared<const std::string>(stream_head_text(cfg.retry, cors_origin));
}

}  // namespace gw::web
