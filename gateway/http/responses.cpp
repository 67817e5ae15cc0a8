#include "http/responses.hpp"

#include "payload_rule.hpp"
#include "sse_frame.hpp"

#include <sstream>

namespace gw::web {

response plain_response(http::status status, std::string body, std::string_view content_type) {
    response res(status, 11);
    res.set(http::field::server, "sse-gateway");
    if (!content_type.empty()) res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-store");
    if (status == http::status::service_unavailable || status == http::status::too_many_requests)
        res.set(http::field::retry_after, retry_after_seconds);
    res.body() = std::move(body);
    return res;
}

response error_response(http::status status, std::string_view code, std::string_view message, std::string_view allow) {
    auto res = plain_response(status, error_body(code, message), "application/json");
    if (status == http::status::method_not_allowed) res.set(http::field::allow, allow);
    return res;
}

response error_response(refusal why, std::string_view allow) {
    const auto& text = text_of(why);
    return error_response(text.status, text.code, text.message, allow);
}

void allow_origin(http::fields& head, std::string_view origin) {
    head.set(http::field::access_control_allow_origin, origin);
    head.set(http::field::access_control_allow_credentials, "true");
    head.set(http::field::vary, "Origin");
}

std::string closing_bytes(response res) {
    res.keep_alive(false);
    res.prepare_payload();
    std::ostringstream out;
    out << res;
    return std::move(out).str();
}

std::string stream_head_text(std::chrono::milliseconds retry, std::string_view cors_origin) {
    http::response<http::empty_body> head(http::status::ok, 11);
    head.set(http::field::content_type, "text/event-stream");
    head.set(http::field::cache_control, "no-cache");
    // Tells nginx not to buffer the stream (proxy_buffering off, per response).
    head.set("X-Accel-Buffering", "no");
    head.set(http::field::connection, "close");
    if (!cors_origin.empty()) allow_origin(head, cors_origin);
    std::ostringstream out;
    out << head.base();
    return std::move(out).str() + sse::preamble(retry);
}

}  // namespace gw::web
