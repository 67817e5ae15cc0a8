#include "http/http_session.hpp"

#include "http/last_event_id.hpp"
#include "http/request_head.hpp"
#include "http/responses.hpp"
#include "http/stream_session.hpp"
#include "log.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>

namespace gw::web {

namespace {

// The credentials' expiry (Unix ms) on the steady clock the registry ticks by;
// max() when they do not expire. Further than ten years is "never".
std::chrono::steady_clock::time_point stream_end(std::optional<std::int64_t> expires_at_ms) {
    using namespace std::chrono;
    constexpr std::int64_t ten_years_ms = 10LL * 366 * 24 * 3600 * 1000;
    if (!expires_at_ms) return steady_clock::time_point::max();
    const auto now_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    const auto left = *expires_at_ms - now_ms;
    if (left > ten_years_ms) return steady_clock::time_point::max();
    return steady_clock::now() + milliseconds(left);
}

// SO_SNDBUF for a stream: half --max-queue-bytes, which Linux doubles (for its
// own bookkeeping) and caps at net.core.wmem_max. A slow reader then holds at most
// about twice --max-queue-bytes: the queue and the kernel's buffer.
int stream_send_buffer(std::uint64_t max_queue_bytes) {
    return static_cast<int>(std::min<std::uint64_t>(max_queue_bytes / 2, 1u << 30));
}

}  // namespace

http_session::http_session(tcp::socket socket, hub::loop& loop, hub::stream_registry& streams, shared_state& state,
                           connection_slot slot, admission admit, listener_role role)
    : stream_(std::move(socket)),
      loop_(loop),
      streams_(streams),
      state_(state),
      slot_(std::move(slot)),
      admit_(admit),
      role_(role) {}

void http_session::run() {
    track_id_ = loop_.track(weak_from_this());
    if (admit_ == admission::refused) return refuse(refusal::max_connections, true);
    do_read();
}

void http_session::close(hub::close_reason) {
    if (closed_) return;
    // Cancelling the pending read ends the session through its handler.
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
}

void http_session::do_read() {
    parser_.emplace();
    parser_->header_limit(request_header_limit);
    parser_->body_limit(request_body_limit);
    // One deadline for the whole head: a client trickling header bytes is cut.
    stream_.expires_after(state_.cfg.header_timeout);
    read_head();
}

void http_session::read_head() {
    // Bytes a pipelining client sent with the previous request may hold this head.
    error_code ec;
    switch (feed_head(*parser_, buffer_, ec)) {
        case head_progress::complete:
            return on_read({});
        case head_progress::obs_fold:
            return refuse(refusal::obs_fold, true);
        case head_progress::failed:
            return on_read(ec);
        case head_progress::need_more:
            break;
    }
    stream_.async_read_some(buffer_.prepare(beast::read_size(buffer_, 65536)),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                                self->buffer_.commit(n);
                                if (ec == net::error::eof && self->buffer_.size() > 0)
                                    ec = http::error::partial_message;  // a head cut short is malformed
                                if (ec) return self->on_read(ec);
                                self->read_head();
                            });
}

void http_session::on_read(error_code ec) {
    if (closed_) return;
    if (ec == http::error::header_limit) return refuse(refusal::header_too_large, true);
    if (ec == http::error::body_limit) return refuse(refusal::body_too_large, true);
    if (ec == beast::error::timeout) {
        // No complete head within --header-timeout (a slow or idle client): cut
        // without an answer, since it may never read one, but counted.
        state_.header_timeouts.inc();
        return finish();
    }
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::eof)
        return finish();
    if (ec) return refuse(refusal::malformed_request, true);
    handle();
}

void http_session::handle() {
    const request& req = parser_->get();
    const auto routed = route_request(*parser_, state_, admit_, role_);
    cors_origin_ = std::string(routed.cors_origin);
    allow_ = routed.allow;
    switch (routed.where) {
        case route::refused:
            return refuse(*routed.why, routed.close);
        case route::preflight:
            return handle_preflight(req);
        case route::stream:
            return handle_stream(req);
        case route::healthz:
            return reply(http::status::ok, R"({"status":"ok"})", "application/json", !routed.close);
        case route::readyz: {
            const bool ready = state_.accepting_streams();
            return reply(ready ? http::status::ok : http::status::service_unavailable,
                         ready ? R"({"status":"ready"})" : R"({"status":"not_ready"})", "application/json",
                         !routed.close);
        }
        case route::metrics:
            return reply(http::status::ok, state_.metrics_text(), "text/plain; version=0.0.4; charset=utf-8",
                         !routed.close);
    }
}

void http_session::handle_stream(const request& req) {
    if (state_.draining.load()) return refuse(refusal::draining, true);
    error_code ignored;
    auto peer = stream_.socket().remote_endpoint(ignored).address();
    auto who = state_.auth.authenticate({req.base(), req.target(), peer});
    if (who.what != auth::outcome::ok) {
        const bool forbidden = who.what == auth::outcome::forbidden;
        const std::string why(auth::to_string(who.why));
        state_.count_refusal(forbidden ? "403" : "401", why);
        log::info("stream refused").str("reason", why).str("peer", peer.to_string());
        return send_error(
            error_response(forbidden ? http::status::forbidden : http::status::unauthorized,
                           forbidden ? "forbidden" : why,
                           forbidden ? "request not from a trusted proxy" : "no usable credentials", allow_),
            !req.keep_alive());
    }
    auto named = state_.namer.name(who.user);
    if (!named.ok()) {
        log::info("stream refused").str("reason", text_of(refusal::invalid_user).reason).str("detail", named.reason);
        return refuse(refusal::invalid_user, !req.keep_alive());
    }
    if (!state_.users.acquire(who.user)) {
        log::info("stream refused").str("reason", text_of(refusal::too_many_streams).reason).str("user", who.user);
        return refuse(refusal::too_many_streams, !req.keep_alive());
    }
    // Hand over the socket: the stream keeps nothing of the request machinery.
    stream_.expires_never();
    auto last_id = req.find("Last-Event-ID");
    const bool has_last_id = last_id != req.end();
    auto last_seq = has_last_id ? own_sequence(last_id->value(), state_.boot_id) : std::nullopt;
    auto head = cors_origin_.empty() ? state_.stream_head
                                     : std::make_shared<const std::string>(stream_head_text(state_.cfg, cors_origin_));
    auto open = [&state = state_, &streams = streams_, user = std::move(who.user), channel = std::move(named.channel),
                 slot = std::move(*slot_), has_last_id, last_seq, head = std::move(head),
                 end = stream_end(who.expires_at_ms)](tcp::socket socket) mutable {
        if (!socket.is_open()) return state.users.release(user);
        std::make_shared<stream_session>(std::move(socket), streams, state, std::move(user), std::move(channel),
                                         std::move(slot), has_last_id, last_seq, std::move(head), end)
            ->start();
    };
    closed_ = true;
    loop_.untrack(track_id_);
    slot_.reset();
    auto socket = stream_.release_socket();
    // The kernel's send buffer is a second queue behind the stream's own: without
    // a bound, autotuning grows it for a slow reader up to tcp_wmem's maximum
    // (4 MiB by default) before --max-queue-bytes acts.
    error_code ignored_sndbuf;
    socket.set_option(net::socket_base::send_buffer_size(stream_send_buffer(state_.cfg.max_queue_bytes)),
                      ignored_sndbuf);
    if (&streams_.home() == &loop_) return open(std::move(socket));
    // Every stream lives on the LISTEN loop (server.cpp): the descriptor moves
    // there, where the socket is made anew (a socket belongs to one io_context).
    error_code ec;
    const auto protocol = socket.local_endpoint(ec).protocol();
    const int fd = ec ? -1 : socket.release(ec);
    if (ec) {
        log::warn("stream handoff failed").str("error", ec.message());
        return open(tcp::socket(loop_.context()));  // counts the user's stream back
    }
    // Owned until the home loop takes it: closed if the handler never runs (shutdown).
    auto owned = std::shared_ptr<int>(new int(fd), [](int* p) {
        if (*p >= 0) ::close(*p);
        delete p;
    });
    net::post(streams_.context(), [open = std::move(open), &home = streams_.context(), protocol, owned]() mutable {
        tcp::socket moved(home);
        error_code ec;
        moved.assign(protocol, *owned, ec);
        if (ec)
            log::warn("stream handoff failed").str("error", ec.message());
        else
            *owned = -1;  // the socket has it now
        open(std::move(moved));
    });
}

void http_session::handle_preflight(const request& req) {
    res_ = std::make_shared<response>(plain_response(http::status::no_content, {}, {}));
    res_->set(http::field::access_control_allow_methods, "GET, OPTIONS");
    res_->set(http::field::access_control_allow_headers, "Authorization, Last-Event-ID, Cache-Control");
    res_->set(http::field::access_control_max_age, "600");
    send(req.keep_alive());
}

void http_session::refuse(refusal why, bool close) {
    if (!text_of(why).kind.empty()) state_.count_refusal(why);
    send_error(error_response(why, allow_), close);
}

void http_session::send_error(response res, bool close) {
    res_ = std::make_shared<response>(std::move(res));
    send(!close);
}

void http_session::reply(http::status status, std::string body, std::string_view content_type, bool keep_alive) {
    res_ = std::make_shared<response>(plain_response(status, std::move(body), content_type));
    send(keep_alive);
}

void http_session::send(bool keep_alive) {
    if (!cors_origin_.empty()) allow_origin(*res_, cors_origin_);
    res_->keep_alive(keep_alive);
    res_->prepare_payload();
    stream_.expires_after(state_.cfg.header_timeout);
    http::async_write(stream_, *res_, [self = shared_from_this(), keep_alive](error_code ec, std::size_t) {
        self->on_write(ec, keep_alive);
    });
}

void http_session::on_write(error_code ec, bool keep_alive) {
    res_.reset();
    if (ec || !keep_alive || closed_) return finish();
    do_read();
}

void http_session::finish() {
    if (closed_) return;
    closed_ = true;
    loop_.untrack(track_id_);
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    slot_.reset();
}

}  // namespace gw::web
