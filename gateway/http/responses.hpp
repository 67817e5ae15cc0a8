#pragma once
// Every response head the gateway writes, built in one place with Beast: the
// JSON error answers (with Retry-After on 503 and 429, Allow on 405), plain
// answers (probes, /metrics, the preflight), the CORS fields, and the head of an
// event stream. A stream writes raw bytes once it has left Beast, so its 503
// and its head come out of here already serialized.
// Thread rule: pure functions.
#include "http/refusal.hpp"
#include "net.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace gw::web {

using response = http::response<http::string_body>;

// Sent with 503 and 429: the browser's EventSource ignores it (it reconnects
// after its retry: time), but proxies, load balancers and scripts honour it.
inline constexpr std::string_view retry_after_seconds = "5";

// A body with its content type (none when empty), never cached; Retry-After on
// 503 and 429.
response plain_response(http::status status, std::string body, std::string_view content_type);
// {"error": code, "message": message}; `allow` names the methods on a 405.
response error_response(http::status status, std::string_view code, std::string_view message,
                        std::string_view allow = "GET");
// The answer to a refusal: its status, JSON code and message (refusal.cpp), the
// one builder of every 503 and 429 the gateway sends.
response error_response(refusal why, std::string_view allow = "GET");
// Lets the page at `origin` read the answer (a refusal too: the browser can then
// tell a 401 from a network error).
void allow_origin(http::fields& head, std::string_view origin);
// The whole response as bytes, Content-Length set, closing the connection.
std::string closing_bytes(response res);

// The head of an event stream: 200 text/event-stream, no Content-Length and no
// chunking (the body ends when the connection does), CORS for `cors_origin`
// when non-empty, then the stream's preamble (retry hint and padding).
std::string stream_head_text(std::chrono::milliseconds retry, std::string_view cors_origin);

}  // namespace gw::web
