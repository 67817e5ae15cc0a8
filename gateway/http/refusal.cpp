#include "http/refusal.hpp"

#include <array>

namespace gw::web {

namespace {

using s = http::status;

// In the enum's order (checked below).
constexpr std::array texts = {
    refusal_text{s::bad_request, "400", "malformed_request", "bad_request", "malformed HTTP request"},
    refusal_text{s::bad_request, "400", "bad_transfer_encoding", "bad_transfer_encoding", "request framing refused"},
    refusal_text{s::bad_request, "400", "missing_host", "missing_host", "request framing refused"},
    refusal_text{s::bad_request, "400", "duplicate_host", "duplicate_host", "request framing refused"},
    refusal_text{s::bad_request, "400", "obs_fold", "obs_fold", "folded header lines are not accepted"},
    refusal_text{s::bad_request, "400", "body_not_allowed", "body_not_allowed",
                 "no route takes a request body; send none"},
    refusal_text{s::bad_request, "400", "invalid_user", "invalid_user", "user id not accepted"},
    refusal_text{s::request_header_fields_too_large, "431", "header_too_large", "header_too_large",
                 "request headers exceed 8 KiB"},
    refusal_text{s::payload_too_large, "413", "body_too_large", "body_too_large", "request body too large"},
    refusal_text{s::service_unavailable, "503", "max_connections", "over_capacity",
                 "too many connections; retry later"},
    refusal_text{s::service_unavailable, "503", "draining", "unavailable", "shutting down; reconnect elsewhere"},
    refusal_text{s::service_unavailable, "503", "database_unavailable", "unavailable",
                 "the database is not reachable; retry later"},
    refusal_text{s::too_many_requests, "429", "too_many_streams", "too_many_streams",
                 "too many open streams for this user"},
    refusal_text{s::forbidden, "cors", "cors_origin", "forbidden_origin", "origin not allowed"},
    refusal_text{s::bad_request, "400", "missing_stream_name", "missing_stream_name", "signed_stream_name is required"},
    refusal_text{s::bad_request, "400", "stream_name_too_long", "stream_name_too_long",
                 "signed_stream_name is too long"},
    refusal_text{s::bad_request, "400", "malformed_stream_name", "malformed_stream_name",
                 "signed_stream_name is not a signed stream name"},
    // 403 as a forged session is: counted with the identity refusals (auth_failures_total).
    refusal_text{s::forbidden, "403", "bad_stream_signature", "forbidden", "signed_stream_name not signed by this app"},
    refusal_text{s::forbidden, "403", "not_a_stream_name", "forbidden", "signed_stream_name does not name a stream"},
    refusal_text{s::not_found, "", "not_found", "not_found", "no such route"},
    refusal_text{s::method_not_allowed, "", "method_not_allowed", "method_not_allowed", "use GET"},
};
static_assert(texts.size() == static_cast<std::size_t>(refusal::method_not_allowed) + 1);
static_assert(texts[static_cast<std::size_t>(refusal::cors_origin)].reason == "cors_origin");
static_assert(texts[static_cast<std::size_t>(refusal::body_too_large)].reason == "body_too_large");
static_assert(texts[static_cast<std::size_t>(refusal::not_a_stream_name)].reason == "not_a_stream_name");

}  // namespace

const refusal_text& text_of(refusal r) {
    return texts[static_cast<std::size_t>(r)];
}

}  // namespace gw::web
