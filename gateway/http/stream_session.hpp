#pragma once
// One open event stream. Created by an HTTP session once the request is
// authenticated; from then on it owns only a socket, one timer and a queue of
// shared frames (the request parser and its buffers are gone).
//
// Life (phase): pending (subscribed, waiting for the LISTEN to be
// confirmed; no bytes sent) -> catching_up (headers + preamble written; events
// are held until the replay or snapshot is sent) -> live (events and heartbeats
// flow) -> closing (a last frame is queued: goodbye, expired, or the 503) ->
// closed. Without a Last-Event-ID or a snapshot query, pending goes straight to
// live. A pending stream that waits longer than --listen-timeout is answered 503. The queue is bounded in bytes; a
// stream over it is closed as a slow consumer. One write in flight; queued frames go out as one buffer sequence. A read
// is always pending so a client that leaves is noticed at once. Time is kept by the registry's tick: a stream owns no
// timer. A stream opened with credentials that expire (JWT exp, a Rails envelope's exp) ends when they do, with an
// "expired" event; the browser's reconnect then gets a 401 and stops.
//
// Thread rule: runs on the registry's loop only; pending operations own it
// (shared_from_this); the registry holds only weak references.
#include "http/shared_state.hpp"
#include "hub/loop.hpp"
#include "hub/stream_registry.hpp"
#include "hub/subscriber.hpp"
#include "net.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::web {

class stream_session final : public hub::subscriber,
                             public hub::closable,
                             public std::enable_shared_from_this<stream_session> {
public:
    // last_event_id: the browser's Last-Event-ID, if it sent one; last_seq: its
    // sequence number when the id is one of this process's; expires: when the
    // credentials stop being valid (time_point::max() when they do not expire).
    // `route` (and its registry) outlives the stream; `user` is empty on a route
    // that needs no identity (a Turbo route without auth).
    stream_session(tcp::socket socket, shared_state& state, route_state& route, std::string user, std::string channel,
                   connection_slot slot, bool last_event_id, std::optional<std::uint64_t> last_seq,
                   std::shared_ptr<const std::string> head, std::chrono::steady_clock::time_point expires);
    ~stream_session() override;

    void start();

    const std::string& channel() const override { return channel_; }
    const std::string& user() const override { return user_; }
    void go_live() override;
    void caught_up(hub::catch_up_reply reply) override;
    void send(const std::shared_ptr<const std::string>& frame) override;
    void close(hub::close_reason reason) override;
    void tick(std::chrono::steady_clock::time_point now) override;

private:
    using frame_ptr = std::shared_ptr<const std::string>;
    enum class phase { pending, catching_up, live, closing, closed };

    void enqueue(const frame_ptr& f);
    void do_write();
    void on_write(error_code ec, std::size_t n);
    void do_read();
    void on_read(error_code ec);
    void refuse_unavailable();
    void expire();
    // Queue the last frame; the stream closes for `reason` once it is written.
    void say_last(const frame_ptr& frame, hub::close_reason reason);
    void finish(hub::close_reason reason);
    // Logs a socket error: debug when the peer just left, warn otherwise.
    void log_error(std::string_view during, error_code ec) const;
    // Headers went out: events may be queued (held while catching up).
    bool accepts_events() const { return phase_ == phase::catching_up || phase_ == phase::live; }

    tcp::socket socket_;
    shared_state& state_;
    route_state& route_;
    hub::stream_registry& streams_;  // the route's
    std::string user_;
    std::string channel_;
    connection_slot slot_;

    std::vector<frame_ptr> queue_;    // waiting to be written
    std::vector<frame_ptr> sending_;  // the write in flight
    std::vector<frame_ptr> held_;     // events that arrived while catching up
    std::vector<net::const_buffer> buffers_;
    std::size_t queued_bytes_ = 0;
    std::chrono::steady_clock::time_point write_started_{};
    std::chrono::steady_clock::time_point due_;  // pending: the listen deadline; live: the next heartbeat
    std::chrono::steady_clock::time_point opened_;
    std::chrono::steady_clock::time_point expires_;  // the credentials' end
    std::uint64_t sid_ = 0;
    std::uint64_t track_id_ = 0;
    phase phase_ = phase::pending;
    hub::close_reason closing_reason_ = hub::close_reason::shutdown;  // while closing: why
    bool went_live_ = false;                                          // the headers went out (for the close log line)
    std::optional<std::uint64_t> last_seq_;
    std::shared_ptr<const std::string> head_;  // the shared head, or this origin's CORS one
    bool last_event_id_ = false;
};

}  // namespace gw::web
