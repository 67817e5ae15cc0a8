#pragma once
// Every refusal the HTTP layer makes on its own (identity refusals come from
// gw::auth), named once. Its texts (the /metrics label, the JSON error code and
// message) are a contract with operators and clients and appear only in
// refusal.cpp, where they leave the process.
// Thread rule: pure functions.
#include "net.hpp"

#include <string_view>

namespace gw::web {

enum class refusal {
    malformed_request,      // 400 bad_request: Beast could not parse the request
    bad_transfer_encoding,  // 400: see head_problem
    missing_host,           // 400: see head_problem
    duplicate_host,         // 400: see head_problem
    obs_fold,               // 400: a header line folded onto the next (RFC 9112 5.2)
    body_not_allowed,       // 400: a request with a body; no route takes one
    invalid_user,           // 400: the user id fails the pattern or the channel length
    header_too_large,       // 431
    body_too_large,         // 413: Content-Length over request_body_limit
    max_connections,        // 503 over_capacity: past --max-connections
    draining,               // 503 unavailable: shutting down
    database_unavailable,   // 503 unavailable: the stream's channel was not listened in time
    too_many_streams,       // 429: --max-streams-per-user
    cors_origin,            // 403 forbidden_origin: a preflight from an origin not allowed
    missing_stream_name,    // 400: a Turbo route's request without signed_stream_name
    stream_name_too_long,   // 400: signed_stream_name over 4 KiB (turbo::signed_stream_verifier)
    malformed_stream_name,  // 400: not "<base64>--<hex digest>", bad percent-escapes or base64
    bad_stream_signature,   // 403 forbidden: no configured secret_key_base signed it
    not_a_stream_name,      // 403 forbidden: signed, but not a stream name (a non-empty JSON string)
    not_found,              // 404 (not counted)
    method_not_allowed,     // 405 (not counted)
};

// What leaves the process for one refusal.
struct refusal_text {
    http::status status;
    std::string_view kind;     // the refusal count's kind: its status, or "cors"; empty when not counted
    std::string_view reason;   // the /metrics reason label and log field
    std::string_view code;     // the JSON body's "error"
    std::string_view message;  // the JSON body's "message"
};

const refusal_text& text_of(refusal r);

}  // namespace gw::web
