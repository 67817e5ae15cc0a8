#include "http/request_head.hpp"

namespace gw::web {

namespace {

// Every coding named by every Transfer-Encoding line, in order, must end with
// exactly one "chunked": the only framing of a request body the gateway (like
// RFC 9112) accepts besides Content-Length.
bool transfer_encoding_ok(const http::request_header<>& head) {
    const auto [first, last] = head.equal_range(http::field::transfer_encoding);
    if (first == last) return true;
    if (head.version() < 11) return false;
    std::size_t chunked = 0;
    bool last_is_chunked = false;
    for (auto it = first; it != last; ++it) {
        const http::opt_token_list codings{it->value()};
        // A line with no coding (empty) or that is no token list is not framing we
        // understand either.
        if (codings.begin() == codings.end() || !http::validate_list(codings)) return false;
        for (auto coding : codings) {
            last_is_chunked = beast::iequals(coding, "chunked");
            if (last_is_chunked) ++chunked;
        }
    }
    return last_is_chunked && chunked == 1;
}

}  // namespace

std::string_view head_problem(const http::request_header<>& head) {
    if (!transfer_encoding_ok(head)) return "bad_transfer_encoding";
    const auto hosts = head.count(http::field::host);
    if (hosts > 1) return "duplicate_host";
    if (hosts == 0 && head.version() >= 11) return "missing_host";
    return {};
}

}  // namespace gw::web
