#include "http/shared_state.hpp"

#include "http/responses.hpp"
#include "payload_rule.hpp"
#include "sse_frame.hpp"

namespace gw::web {

bool shared_state::accepting_streams() const {
    // The connection asking counts too: at the limit, the next stream would be refused.
    const bool full = static_cast<std::uint64_t>(connections.value()) > cfg.max_connections;
    // A gateway that has no keys yet from its JWKS URL would refuse every token.
    return !draining.load() && !full && ready() && auth.keys_ready();
}

bool shared_state::cors_allows(std::string_view origin) const {
    for (const auto& o : cfg.cors_origins)
        if (o == origin) return true;
    return false;
}

shared_state::shared_state(const config& c)
    : cfg(c),
      auth(c),
      namer(c.channel_template, c.user_pattern),
      users(c.max_streams_per_user),
      stream_head(std::make_shared<const std::string>(stream_head_text(c, {}))),
      heartbeat(std::make_shared<const std::string>(sse::heartbeat)),
      goodbye(std::make_shared<const std::string>("retry: " + std::to_string(c.retry.count()) + "\n\n")),
      expired(std::make_shared<const std::string>(
          "event: expired\ndata: " + error_body("credentials_expired", "the credentials expired; sign in again") +
          "\n\n")),
      unavailable(std::make_shared<const std::string>(closing_bytes(error_response(refusal::database_unavailable)))) {}

void shared_state::count_refusal(const std::string& kind, const std::string& reason) {
    std::lock_guard lock(refusals_mutex_);
    ++refusals_[{kind, reason}];
}

void shared_state::count_refusal(refusal why) {
    const auto& text = text_of(why);
    count_refusal(std::string(text.kind), std::string(text.reason));
}

std::map<std::pair<std::string, std::string>, std::uint64_t> shared_state::refusals() const {
    std::lock_guard lock(refusals_mutex_);
    return refusals_;
}

}  // namespace gw::web
