#pragma once
// Reading a request head, and the checks on it that Beast's parser leaves to the
// server, each one a request-smuggling, spoofing or routing ambiguity RFC 9112
// tells a server to refuse. Only the head is ever read: no route takes a body, so
// a chunked body's trailers (which Beast would merge into the fields) never are.
// Pure functions; any thread.
#include "http/refusal.hpp"
#include "net.hpp"

#include <cstddef>
#include <optional>

namespace gw::web {

// The parser limits a session reads each request with (the fuzz target
// tests/fuzz/fuzz_http_head.cpp reads with the same): a larger head is answered
// 431, a larger Content-Length 413.
inline constexpr std::size_t request_header_limit = 8 * 1024;
inline constexpr std::size_t request_body_limit = 16 * 1024;

using request_parser = http::request_parser<http::string_body>;

enum class head_progress {
    need_more,  // the head is not complete: read more bytes into the buffer, feed again
    complete,   // the parser holds the head; whatever follows it stays in the buffer
    obs_fold,   // a header line continues on the next (RFC 9112 5.2): refused 400
    failed,     // the parser's error (header_limit, body_limit, a malformed head)
};

// Gives `parser` the request head at the front of `buffer`, consuming the bytes
// it used, and never anything after the head's empty line: a body and its
// trailers are left unread. `ec` holds the parser's error when `failed`.
head_progress feed_head(request_parser& parser, beast::flat_buffer& buffer, error_code& ec);

// The refusal for a head the session must answer 400 and close on, or nullopt
// when the head is acceptable:
//   bad_transfer_encoding  Transfer-Encoding whose last coding is not chunked
//       (gzip, "chunked, identity", xchunked), chunked twice, or any
//       Transfer-Encoding on HTTP/1.0 (RFC 9112 6.1, 6.3). Beast reads such a body
//       as absent, so its bytes would be parsed as the next pipelined request.
//   missing_host  an HTTP/1.1 request without Host (RFC 9112 3.2).
//   duplicate_host  more than one Host line (RFC 9112 3.2).
std::optional<refusal> head_problem(const http::request_header<>& head);

}  // namespace gw::web
