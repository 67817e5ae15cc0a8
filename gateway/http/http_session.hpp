#pragma once
// One accepted connection until it becomes a stream or goes away: reads requests
// with a header deadline and size limit, answers the built-in routes (healthz,
// readyz, metrics), refuses what it must (JSON bodies), and hands an authenticated
// stream request's socket to a stream_session, dropping its parser and buffers.
// Streams live on the home shard (the router's: see server.cpp); a session on
// another shard moves the socket there.
//
// Thread rule: runs on its shard's thread only; pending operations own it.
#include "http/responses.hpp"
#include "http/shared_state.hpp"
#include "hub/shard.hpp"
#include "net.hpp"

#include <memory>
#include <optional>

namespace gw::web {

// What the accept loop decided from the connection count (see server::do_accept).
enum class admission {
    open,      // within --max-connections: every route
    ops_only,  // in the reserve beyond it: /healthz, /readyz, /metrics; 503 otherwise
    refused,   // beyond the reserve too: 503 without reading the request
};

class http_session final : public hub::closable, public std::enable_shared_from_this<http_session> {
public:
    http_session(tcp::socket socket, hub::shard& shard, hub::shard& home, shared_state& state, connection_slot slot,
                 admission admit);

    void run();
    void close(hub::close_reason reason) override;

private:
    using request = http::request<http::string_body>;

    void do_read();
    void on_read(error_code ec);
    void handle();
    void handle_stream(const request& req);
    void handle_preflight(const request& req);
    void reply(http::status status, std::string body, std::string_view content_type, bool keep_alive);
    void refuse(http::status status, std::string_view code, std::string_view message, bool keep_alive = true);
    void send(bool keep_alive);
    void on_write(error_code ec, bool keep_alive);
    void finish();
    void refuse_over_capacity();

    beast::tcp_stream stream_;
    hub::shard& shard_;
    hub::shard& home_;  // where streams live
    shared_state& state_;
    std::optional<connection_slot> slot_;
    admission admit_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::shared_ptr<response> res_;
    std::string cors_origin_;         // the request's Origin when --cors-origins allows it
    std::string_view allow_ = "GET";  // the methods the requested route answers
    std::uint64_t track_id_ = 0;
    bool closed_ = false;
};

}  // namespace gw::web
