#include "http/shared_state.hpp"

#include "sse_frame.hpp"

namespace gw::web {

namespace {

std::string stream_head_text(const config& c) {
    std::string head =
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\n"
        "X-Accel-Buffering: no\r\n"
        // No Content-Length and no chunking: the body ends when the connection does.
        "Connection: close\r\n"
        "\r\n";
    return head + sse::preamble(c.retry);
}

}  // namespace

shared_state::shared_state(const config& c)
    : cfg(c),
      auth(c),
      namer(c.channel_template, c.user_pattern),
      users(c.max_streams_per_user),
      stream_head(std::make_shared<const std::string>(stream_head_text(c))),
      heartbeat(std::make_shared<const std::string>(sse::heartbeat)),
      goodbye(std::make_shared<const std::string>("retry: " + std::to_string(c.retry.count()) + "\n\n")) {}

void shared_state::count_refusal(const std::string& kind, const std::string& reason) {
    std::lock_guard lock(refusals_mutex_);
    ++refusals_[{kind, reason}];
}

std::map<std::pair<std::string, std::string>, std::uint64_t> shared_state::refusals() const {
    std::lock_guard lock(refusals_mutex_);
    return refusals_;
}

}  // namespace gw::web
