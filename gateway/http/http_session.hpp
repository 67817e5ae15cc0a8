#pragma once
// One accepted connection until it becomes a stream or goes away: reads request
// heads (never a body) with a deadline and size limit, answers the built-in routes
// (healthz, readyz, metrics), refuses what it must (JSON bodies), and hands an authenticated
// stream request's socket to a stream_session, dropping its parser and buffers.
// Streams live on the LISTEN loop (the stream registry's: see server.cpp); a
// session on another loop moves the socket there.
//
// Thread rule: runs on its loop's thread only; pending operations own it.
#include "http/refusal.hpp"
#include "http/request_head.hpp"
#include "http/request_route.hpp"
#include "http/responses.hpp"
#include "http/shared_state.hpp"
#include "hub/loop.hpp"
#include "hub/stream_registry.hpp"
#include "net.hpp"
#include "turbo/signed_stream_name.hpp"

#include <memory>
#include <optional>

namespace gw::web {

class http_session final : public hub::closable, public std::enable_shared_from_this<http_session> {
public:
    http_session(tcp::socket socket, hub::loop& loop, shared_state& state, connection_slot slot, admission admit,
                 listener_role role = listener_role::combined);

    void run();
    void close(hub::close_reason reason) override;

private:
    using request = http::request<http::string_body>;

    void do_read();
    void read_head();
    void on_read(error_code ec);
    void handle();
    void handle_stream(const request& req);
    // The stream's channel and user (empty when the route needs no identity), or
    // nullopt once the request was refused.
    struct stream_identity {
        std::string user;
        std::string channel;
        std::optional<std::int64_t> expires_at_ms;
    };
    std::optional<stream_identity> identify(const request& req);
    // The request's signed_stream_name, percent-decoded and verified.
    turbo::verified_name verify_signed_name(std::string_view target) const;
    void handle_preflight(const request& req);
    void reply(http::status status, std::string body, std::string_view content_type, bool keep_alive);
    // Counted (when its kind is) and answered; the connection closes when `close`.
    void refuse(refusal why, bool close);
    void send_error(response res, bool close);
    void send(bool keep_alive);
    void on_write(error_code ec, bool keep_alive);
    void finish();

    beast::tcp_stream stream_;
    hub::loop& loop_;  // the loop this session runs on
    shared_state& state_;
    route_state* route_ = nullptr;  // the stream route of the request being answered
    std::optional<connection_slot> slot_;
    admission admit_;
    listener_role role_;
    beast::flat_buffer buffer_;
    std::optional<request_parser> parser_;
    std::shared_ptr<response> res_;
    std::string cors_origin_;         // the request's Origin when the route's cors-origins allow it
    std::string_view allow_ = "GET";  // the methods the requested route answers
    std::uint64_t track_id_ = 0;
    bool closed_ = false;
};

}  // namespace gw::web
