#pragma once
// One non-blocking libpq connection driven by Asio: the recipe the listener and
// the query connections share. Connect with PQconnectStartParams/PQconnectPoll
// (re-reading PQsocket after every poll), then PQsetnonblocking; the fd is watched
// through a posix::stream_descriptor that never owns it (released before
// PQfinish). Every completion is tagged with a generation, so nothing from a torn
// down connection reaches the owner.
//
// It is the listener's pg::wire (the calls forward to libpq); the query pool
// uses it directly.
//
// Thread rule: call only from the owning io_context's thread.
#include "net.hpp"
#include "pg/pg_handles.hpp"
#include "pg/wire.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gw::pg {

class connection final : public wire {
public:
    connection(net::io_context& ioc, std::string conninfo, std::string application_name);
    ~connection() override;
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // pg::wire
    void async_connect(std::chrono::steady_clock::duration timeout, std::function<void(bool)> done) override;
    void wait_readable(std::function<void()> ready) override;
    bool flush() override;
    void teardown() override;
    std::string error() const override;
    std::string quote_identifier(std::string_view name) const override;
    server_info server() const override;
    bool send_query(const std::string& sql) override { return PQsendQuery(conn_.get(), sql.c_str()) != 0; }
    bool consume_input() override { return PQconsumeInput(conn_.get()) != 0; }
    bool busy() const override { return PQisBusy(conn_.get()) != 0; }
    result_ptr next_result() override { return result_ptr(PQgetResult(conn_.get())); }
    notify_ptr next_notify() override { return notify_ptr(PQnotifies(conn_.get())); }

    PGconn* get() const { return conn_.get(); }
    bool connected() const { return connected_; }

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
