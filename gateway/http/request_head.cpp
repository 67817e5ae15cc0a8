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

// A line of the head (before its empty line at `head_end`) that starts with a
// space or a tab continues the one before it. Beast would join the two with a
// space; RFC 9112 5.2 lets a server refuse it instead, which leaves no doubt how
// a proxy in front read the field.
bool has_obs_fold(std::string_view bytes, std::size_t head_end) {
    for (auto at = bytes.find("\r\n"); at != std::string_view::npos && at < head_end; at = bytes.find("\r\n", at + 2))
        if (bytes[at + 2] == ' ' || bytes[at + 2] == '\t') return true;
    return false;
}

}  // namespace

head_progress feed_head(request_parser& parser, beast::flat_buffer& buffer, error_code& ec) {
    ec = {};
    const std::string_view bytes(static_cast<const char*>(buffer.data().data()), buffer.size());
    // The parser reads no head before it has all of it (up to its empty line),
    // so the whole head is checked here first.
    if (const auto head_end = bytes.find("\r\n\r\n");
        head_end != std::string_view::npos && has_obs_fold(bytes, head_end))
        return head_progress::obs_fold;
    // eager(false), the default: put() stops after the head.
    while (!parser.is_header_done()) {
        const auto used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == http::error::need_more) {
            ec = {};
            return head_progress::need_more;
        }
        if (ec) return head_progress::failed;
        if (used == 0) return head_progress::need_more;
    }
    return head_progress::complete;
}

std::optional<refusal> head_problem(const http::request_header<>& head) {
    if (!transfer_encoding_ok(head)) return refusal::bad_transfer_encoding;
    const auto hosts = head.count(http::field::host);
    if (hosts > 1) return refusal::duplicate_host;
    if (hosts == 0 && head.version() >= 11) return refusal::missing_host;
    return std::nullopt;
}

}  // namespace gw::web
