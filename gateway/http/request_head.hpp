#pragma once
// Checks on a parsed request head that Beast's parser leaves to the server, each
// one a request-smuggling or routing ambiguity RFC 9112 tells a server to refuse.
// Pure function; any thread.
#include "net.hpp"

#include <cstddef>
#include <string_view>

namespace gw::web {

// The parser limits a session reads each request with (the fuzz target
// tests/fuzz/fuzz_http_head.cpp reads with the same): a larger head is answered
// 431, a larger body 413.
inline constexpr std::size_t request_header_limit = 8 * 1024;
inline constexpr std::size_t request_body_limit = 16 * 1024;

// The refusal reason for a head the session must answer 400 and close on, or an
// empty view when the head is acceptable:
//   "bad_transfer_encoding"  Transfer-Encoding whose last coding is not chunked
//       (gzip, "chunked, identity", xchunked), chunked twice, or any
//       Transfer-Encoding on HTTP/1.0 (RFC 9112 6.1, 6.3). Beast reads such a body
//       as absent, so its bytes would be parsed as the next pipelined request.
//   "missing_host"  an HTTP/1.1 request without Host (RFC 9112 3.2).
//   "duplicate_host"  more than one Host line (RFC 9112 3.2).
std::string_view head_problem(const http::request_header<>& head);

}  // namespace gw::web
