#pragma once
// The seam between the LISTEN connection's logic (pg::listener) and libpq: the
// handful of calls the listener makes, nothing more. pg::connection implements
// it by forwarding each call to libpq; unit tests give the listener a scripted
// one instead, to drive a ping timeout, a failed batch or a connection lost
// mid-batch without a server. Results and notifications are libpq's own structs
// (a test makes them with PQmakeEmptyPGresult and malloc).
//
// Thread rule: call only from the owning io_context's thread.
#include "pg/pg_handles.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace gw::pg {

class wire {
public:
    // Who answered, for the "database connected" log line.
    struct server_info {
        std::string host;
        std::string port;
        int version = 0;  // PQserverVersion
        int backend_pid = 0;
    };

    virtual ~wire() = default;

    // Starts connecting; `done(true)` once usable, `done(false)` on failure or
    // after `timeout`. Never calls back synchronously.
    virtual void async_connect(std::chrono::steady_clock::duration timeout, std::function<void(bool)> done) = 0;
    // Calls `ready` once the socket is readable (not if torn down meanwhile).
    virtual void wait_readable(std::function<void()> ready) = 0;
    // Sends what is buffered, waiting for writability as long as needed. False
    // when the connection broke.
    virtual bool flush() = 0;
    // Closes the connection; pending waits are dropped.
    virtual void teardown() = 0;

    // The last error on one line ("" when none).
    virtual std::string error() const = 0;
    // Escaped identifier ("" on failure).
    virtual std::string quote_identifier(std::string_view name) const = 0;
    virtual server_info server() const = 0;

    // PQsendQuery: false when it could not be sent.
    virtual bool send_query(const std::string& sql) = 0;
    // PQconsumeInput: false when the connection broke.
    virtual bool consume_input() = 0;
    // PQisBusy: the next result is not complete yet.
    virtual bool busy() const = 0;
    // PQgetResult: null once the command in flight is complete.
    virtual result_ptr next_result() = 0;
    // PQnotifies: null when none is waiting.
    virtual notify_ptr next_notify() = 0;
};

}  // namespace gw::pg
