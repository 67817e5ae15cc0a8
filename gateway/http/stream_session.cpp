#include "http/stream_session.hpp"

#include "log.hpp"
#include "payload_rule.hpp"

#include <atomic>
#include <random>

namespace gw::web {

namespace {

std::atomic<std::uint64_t> next_sid{0};
thread_local std::minstd_rand heartbeat_rng{std::random_device{}()};

// A write stalled this many heartbeat periods means the peer is gone or stuck.
constexpr int stalled_write_heartbeats = 2;

// A client that leaves shows as one of these: ordinary, logged at debug. Any
// other error on a stream's socket deserves a look, at warn.
bool peer_left(error_code ec) {
    return ec == net::error::eof || ec == net::error::connection_reset || ec == net::error::operation_aborted ||
           ec == net::error::broken_pipe || ec == net::error::not_connected;
}

std::int64_t ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

stream_session::stream_session(tcp::socket socket, shared_state& state, route_state& route, std::string user,
                               std::string channel, connection_slot slot, bool last_event_id,
                               std::optional<std::uint64_t> last_seq, std::shared_ptr<const std::string> head,
                               std::chrono::steady_clock::time_point expires)
    : socket_(std::move(socket)),
      state_(state),
      route_(route),
      streams_(*route.streams),
      user_(std::move(user)),
      channel_(std::move(channel)),
      slot_(std::move(slot)),
      opened_(std::chrono::steady_clock::now()),
      expires_(expires),
      sid_(++next_sid),
      last_seq_(last_seq),
      head_(std::move(head)),
      last_event_id_(last_event_id) {}

stream_session::~stream_session() = default;

void stream_session::start() {
    track_id_ = streams_.home().track(weak_from_this());
    streams_.stats().streams.add(1);
    streams_.subscribe(shared_from_this());
    due_ = opened_ + state_.cfg.listen_timeout;
    do_read();
}

void stream_session::go_live() {
    assert_on_thread(streams_.context());
    if (phase_ != phase::pending) return;
    went_live_ = true;
    streams_.stats().streams_opened.inc();
    log::info("stream open")
        .num("sid", static_cast<std::int64_t>(sid_))
        .str("user", user_)
        .str("route", route_.cfg.path)
        .str("channel", channel_);
    // The first heartbeat at a random point of the period: streams opened together
    // (a deploy, a reconnect wave) must not heartbeat together forever after.
    std::uniform_int_distribution<std::int64_t> phase(1, std::chrono::milliseconds(route_.cfg.heartbeat).count());
    due_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(phase(heartbeat_rng));
    const bool catch_up = last_event_id_ || !route_.cfg.snapshot_sql.empty();
    // The channel is listened from here on: what the browser missed comes from the
    // replay buffer or the snapshot, and events arriving meanwhile wait behind it.
    phase_ = catch_up ? phase::catching_up : phase::live;
    enqueue(head_);
    head_.reset();
    if (!catch_up) return;
    streams_.catch_up(shared_from_this(), last_seq_);
}

void stream_session::caught_up(hub::catch_up_reply reply) {
    if (phase_ != phase::catching_up) return;
    phase_ = phase::live;
    auto held = std::move(held_);
    held_.clear();
    for (const auto& f : held) queued_bytes_ -= f->size();
    for (const auto& f : reply.frames) send(f);
    if (!reply.replaces_held)
        for (const auto& f : held) send(f);
}

void stream_session::send(const frame_ptr& frame) {
    assert_on_thread(streams_.context());
    if (!accepts_events()) return;
    if (queued_bytes_ + frame->size() > state_.cfg.max_queue_bytes) {
        log::warn("slow consumer")
            .num("sid", static_cast<std::int64_t>(sid_))
            .str("user", user_)
            .str("route", route_.cfg.path)
            .num("queued_bytes", static_cast<std::int64_t>(queued_bytes_));
        return close(hub::close_reason::slow_consumer);
    }
    if (phase_ == phase::catching_up) {
        queued_bytes_ += frame->size();  // held bytes count against the bound too
        held_.push_back(frame);
        return;
    }
    streams_.stats().events_written.inc();
    enqueue(frame);
    // A heartbeat is due only after a quiet period: an event keeps the proxies'
    // idle timers from firing just as well, and every heartbeat costs a write
    // here and a wake-up in the client (at 19,000 streams and 15 s, 1,267/s).
    due_ = streams_.coarse_now() + route_.cfg.heartbeat;
}

void stream_session::enqueue(const frame_ptr& f) {
    queued_bytes_ += f->size();
    queue_.push_back(f);
    if (sending_.empty()) do_write();
}

void stream_session::do_write() {
    sending_.swap(queue_);
    buffers_.clear();
    for (const auto& f : sending_) buffers_.emplace_back(net::buffer(*f));
    write_started_ = std::chrono::steady_clock::now();
    net::async_write(socket_, buffers_,
                     [self = shared_from_this()](error_code ec, std::size_t n) { self->on_write(ec, n); });
}

void stream_session::on_write(error_code ec, std::size_t n) {
    if (phase_ == phase::closed) return;
    if (ec) {
        log_error("write", ec);
        return close(hub::close_reason::write_error);
    }
    queued_bytes_ -= n;
    sending_.clear();
    if (!queue_.empty()) return do_write();
    if (phase_ == phase::closing) finish(closing_reason_);
}

void stream_session::do_read() {
    socket_.async_read_some(streams_.scratch(),
                            [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); });
}

void stream_session::on_read(error_code ec) {
    if (phase_ == phase::closed) return;
    // Browsers send nothing after the request; any bytes are ignored, EOF or an
    // error means the client went away.
    if (ec) {
        log_error("read", ec);
        return close(ec == net::error::eof ? hub::close_reason::client_closed : hub::close_reason::read_error);
    }
    do_read();
}

void stream_session::tick(std::chrono::steady_clock::time_point now) {
    if (phase_ == phase::closed) return;
    // Checked even while closing: a last frame (goodbye, expired, 503) stuck behind
    // a peer that stopped reading must not keep the stream forever.
    if (!sending_.empty() && now - write_started_ > stalled_write_heartbeats * route_.cfg.heartbeat)
        return close(hub::close_reason::write_timeout);
    if (phase_ == phase::closing) return;
    if (phase_ == phase::pending) {
        if (now >= due_) refuse_unavailable();
        return;
    }
    if (now >= expires_) return expire();
    if (now < due_) return;
    enqueue(route_.heartbeat);
    due_ = now + route_.cfg.heartbeat;
}

void stream_session::refuse_unavailable() {
    // No headers went out yet, so the client can still get a proper answer.
    state_.count_refusal(refusal::database_unavailable, route_.cfg.path);
    say_last(route_.unavailable, hub::close_reason::database_unavailable);
}

void stream_session::expire() {
    // Said once, as an event the page can act on (sign in again); no retry hint,
    // since the reconnect with the same credentials is answered 401.
    say_last(route_.expired, hub::close_reason::credentials_expired);
}

void stream_session::say_last(const frame_ptr& frame, hub::close_reason reason) {
    phase_ = phase::closing;
    closing_reason_ = reason;
    enqueue(frame);
}

void stream_session::close(hub::close_reason reason) {
    assert_on_thread(streams_.context());
    if (phase_ == phase::closed) return;
    // Leave with a reconnect hint; the hard close at the drain deadline still applies.
    if (reason == hub::close_reason::shutdown && accepts_events()) return say_last(route_.goodbye, reason);
    // A stream already saying its last frame keeps the reason it was closing for.
    finish(phase_ == phase::closing ? closing_reason_ : reason);
}

void stream_session::log_error(std::string_view during, error_code ec) const {
    log::line(peer_left(ec) ? log_level::debug : log_level::warn, "stream socket error")
        .num("sid", static_cast<std::int64_t>(sid_))
        .str("during", during)
        .str("error", ec.message());
}

void stream_session::finish(hub::close_reason reason) {
    if (phase_ == phase::closed) return;
    phase_ = phase::closed;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    if (ec) log_error("shutdown", ec);
    socket_.close(ec);
    if (ec) log_error("close", ec);
    queue_.clear();
    streams_.unsubscribe(*this);
    streams_.home().untrack(track_id_);
    streams_.stats().streams.add(-1);
    streams_.stats().count_close(reason);
    if (!user_.empty()) route_.users.release(user_);
    log::info("stream close")
        .num("sid", static_cast<std::int64_t>(sid_))
        .str("user", user_)
        .str("route", route_.cfg.path)
        .num("duration_ms", ms_since(opened_))
        .str("reason", hub::to_string(reason))
        .flag("was_live", went_live_);
}

}  // namespace gw::web
