#pragma once
// One non-blocking libpq connection driven by Asio: the recipe the listener and
// the query connections share. Connect with PQconnectStartParams/PQconnectPoll
// (re-reading PQsocket after every poll), then PQsetnonblocking; the fd is watched
// through a posix::stream_descriptor that never owns it (released before
// PQfinish). Every completion is tagged with a generation, so nothing from a torn
// down connection reaches the owner.
//
// Thread rule: call only from the owning io_context's thread.
#include "net.hpp"
#include "pg/pg_handles.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gw::pg {

class connection {
public:
    connection(net::io_context& ioc, std::string conninfo, std::string application_name);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Starts connecting; `done(true)` once usable, `done(false)` on failure or
    // after `timeout`. Never calls back synchronously.
    void async_connect(std::chrono::steady_clock::duration timeout, std::function<void(bool)> done);
    // Calls `ready` once the socket is readable (not if torn down meanwhile).
    void wait_readable(std::function<void()> ready);
    // Sends what libpq has buffered, waiting for writability as long as needed.
    // Returns false when the connection broke.
    bool flush();
    // Closes the connection; pending waits are dropped.
    void teardown();

    PGconn* get() const { return conn_.get(); }
    bool connected() const { return connected_; }
    // The last libpq error on one line ("" when none).
    std::string error() const;
    // Escaped identifier ("" on failure).
    std::string quote_identifier(std::string_view name) const;

private:
    void on_poll(PostgresPollingStatusType poll);
    bool watch_socket();
    void finish_connect(bool ok);
    void arm_read();
    void forget_write_interest();

    net::io_context& ioc_;
    std::string conninfo_;
    std::string application_name_;
    conn_ptr conn_;
    std::optional<net::posix::stream_descriptor> sock_;
    int sock_fd_ = -1;
    std::uint64_t gen_ = 0;
    bool connected_ = false;
    bool write_waiting_ = false;
    std::function<void()> read_ready_;  // the owner's pending wait_readable
    net::steady_timer deadline_;
    std::function<void(bool)> on_connect_;
};

}  // namespace gw::pg
