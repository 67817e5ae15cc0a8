#include "http/http_session.hpp"

#include "auth/request_credentials.hpp"
#include "http/last_event_id.hpp"
#include "http/request_head.hpp"
#include "http/responses.hpp"
#include "http/stream_session.hpp"
#include "log.hpp"
#include "turbo/cable_channel.hpp"

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

// The query parameter turbo-rails' <turbo-stream-source> carries the signed name in.
constexpr std::string_view signed_stream_name_param = "signed_stream_name";

refusal refusal_of(turbo::name_refusal r) {
    switch (r) {
        case turbo::name_refusal::missing:
            return refusal::missing_stream_name;
        case turbo::name_refusal::too_long:
            return refusal::stream_name_too_long;
        case turbo::name_refusal::bad_signature:
            return refusal::bad_stream_signature;
        case turbo::name_refusal::not_a_name:
            return refusal::not_a_stream_name;
        case turbo::name_refusal::malformed:
        case turbo::name_refusal::none:
            break;
    }
    return refusal::malformed_stream_name;
}

// SO_SNDBUF for a stream: half --max-queue-bytes, which Linux doubles (for its
// own bookkeeping) and caps at net.core.wmem_max. A slow reader then holds at most
// about twice --max-queue-bytes: the queue and the kernel's buffer.
int stream_send_buffer(std::uint64_t max_queue_bytes) {
    return static_cast<int>(std::min<std::uint64_t>(max_queue_bytes / 2, 1u << 30));
}

}  // namespace

http_session::http_session(tcp::socket socket, hub::loop& loop, shared_state& state, connection_slot slot,
                           admission admit, listener_role role)
    : stream_(std::move(socket)), loop_(loop), state_(state), slot_(std::move(slot)), admit_(admit), role_(role) {}

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
    route_ = routed.stream_route;
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

std::optional<http_session::stream_identity> http_session::identify(const request& req) {
    const auto& route = *route_;
    const auto& path = route.cfg.path;
    error_code ignored;
    auto peer = stream_.socket().remote_endpoint(ignored).address();
    stream_identity id;
    // A Turbo route without auth modes needs no identity: the signature is the
    // authorization, as in turbo-rails.
    if (!route.cfg.auth_modes.empty()) {
        auto who = state_.authenticate_for(route, {req.base(), req.target(), peer});
        if (who.what != auth::outcome::ok) {
            const bool forbidden = who.what == auth::outcome::forbidden;
            const std::string why(auth::to_string(who.why));
            state_.count_refusal(forbidden ? "403" : "401", why, path);
            log::info("stream refused").str("reason", why).str("route", path).str("peer", peer.to_string());
            send_error(error_response(forbidden ? http::status::forbidden : http::status::unauthorized,
                                      forbidden ? "forbidden" : why,
                                      forbidden ? "request not from a trusted proxy" : "no usable credentials", allow_),
                       !req.keep_alive());
            return std::nullopt;
        }
        id.user = std::move(who.user);
        id.expires_at_ms = who.expires_at_ms;
    }
    if (route.turbo()) {
        auto named = verify_signed_name(req.target());
        if (!named.ok()) {
            const auto why = refusal_of(named.refusal);
            log::info("stream refused")
                .str("reason", text_of(why).reason)
                .str("route", path)
                .str("peer", peer.to_string());
            refuse(why, !req.keep_alive());
            return std::nullopt;
        }
        id.channel = turbo::cable_channel(route.cfg.channel_prefix, named.name);
        return id;
    }
    auto named = route.namer.name(id.user);
    if (!named.ok()) {
        log::info("stream refused")
            .str("reason", text_of(refusal::invalid_user).reason)
            .str("route", path)
            .str("detail", named.reason);
        refuse(refusal::invalid_user, !req.keep_alive());
        return std::nullopt;
    }
    id.channel = std::move(named.channel);
    return id;
}

turbo::verified_name http_session::verify_signed_name(std::string_view target) const {
    turbo::verified_name out;
    const auto raw = auth::find_query_param(target, signed_stream_name_param);
    if (!raw || raw->empty()) {
        out.refusal = turbo::name_refusal::missing;
        return out;
    }
    // Refused before decoding: the decoded value is never longer than the raw one
    // needs to be (three bytes per escaped byte).
    if (raw->size() > 3 * turbo::signed_stream_verifier::max_signed_name) {
        out.refusal = turbo::name_refusal::too_long;
        return out;
    }
    const auto decoded = auth::percent_decode(*raw, true);
    if (!decoded) {
        out.refusal = turbo::name_refusal::malformed;
        return out;
    }
    const auto verifier = state_.turbo_names.current();
    if (!verifier) {
        out.refusal = turbo::name_refusal::bad_signature;
        return out;
    }
    return verifier->verify(*decoded);
}

void http_session::handle_stream(const request& req) {
    auto& route = *route_;
    if (state_.draining.load()) return refuse(refusal::draining, true);
    auto id = identify(req);
    if (!id) return;
    // An empty user (a Turbo route without auth) has no per-user limit.
    if (!id->user.empty() && !route.users.acquire(id->user)) {
        log::info("stream refused")
            .str("reason", text_of(refusal::too_many_streams).reason)
            .str("route", route.cfg.path)
            .str("user", id->user);
        return refuse(refusal::too_many_streams, !req.keep_alive());
    }
    // Hand over the socket: the stream keeps nothing of the request machinery.
    stream_.expires_never();
    auto last_id = req.find("Last-Event-ID");
    const bool has_last_id = last_id != req.end();
    auto last_seq = has_last_id ? own_sequence(last_id->value(), route.boot_id) : std::nullopt;
    auto open = [&state = state_, &route, user = std::move(id->user), channel = std::move(id->channel),
                 slot = std::move(*slot_), has_last_id, last_seq, head = route.head_for(cors_origin_),
                 end = stream_end(id->expires_at_ms)](tcp::socket socket) mutable {
        if (!socket.is_open()) {
            if (!user.empty()) route.users.release(user);
            return;
        }
        std::make_shared<stream_session>(std::move(socket), state, route, std::move(user), std::move(channel),
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
    auto& streams = *route.streams;
    if (&streams.home() == &loop_) return open(std::move(socket));
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
    net::post(streams.context(), [open = std::move(open), &home = streams.context(), protocol, owned]() mutable {
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
    if (!text_of(why).kind.empty()) state_.count_refusal(why, route_ ? std::string_view(route_->cfg.path) : "");
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
