#pragma once
// A small pool of query connections for the snapshot statements ($1 = user id)
// and the occasional monitoring read, separate from the LISTEN connection so a
// slow or failing query never holds it up. Each connection runs one query at a
// time (PQsendQueryParams, non-blocking); requests wait in a FIFO. A query that
// takes longer than the timeout costs its connection (closed and re-opened):
// PQcancel would block the thread.
// Connections are opened lazily and re-opened with backoff after a failure.
//
// Thread rule: runs on the listener's io_context; call only from that thread.
#include "metrics.hpp"
#include "net.hpp"
#include "pg/connection.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gw::pg {

class query_pool {
public:
    // ok = false: the query could not run (database down, error, timeout).
    // value: the first column of the first row, when there is one and it is not NULL.
    using callback = std::function<void(bool ok, std::optional<std::string> value)>;

    struct counters {
        metrics::counter queries;     // snapshot queries answered
        metrics::counter failures;    // queries that failed or timed out
        metrics::counter reconnects;  // query connections re-established
    };

    // `sqls`: the snapshot statements, by index; the bounds (size, timeout) are shared by all.
    query_pool(net::io_context& ioc, std::string conninfo, std::vector<std::string> sqls, unsigned size,
               std::chrono::milliseconds timeout);
    ~query_pool();

    // Snapshot statement number `query` (< the number given) with `user` as $1;
    // counted in stats().
    void run(std::size_t query, std::string user, callback cb);
    // A statement without parameters (a monitoring read), queued with the
    // snapshots; not counted in stats().
    void run_statement(std::string sql, callback cb);
    void stop();
    const counters& stats() const { return counters_; }

private:
    struct request {
        std::string sql;  // empty: snapshot statement number `query`, with `user` as $1
        std::size_t query = 0;
        std::string user;
        callback cb;
        bool counted() const { return sql.empty(); }
    };
    struct slot {
        explicit slot(net::io_context& ioc, const std::string& conninfo)
            : conn(ioc, conninfo, "sse-gateway-snapshot"), timer(ioc) {}
        connection conn;
        net::steady_timer timer;  // query deadline, then reconnect backoff
        std::optional<request> current;
        bool connecting = false;
        bool ever_connected = false;
        unsigned attempt = 0;
    };

    void pump();
    void start_query(slot& s);
    void on_readable(slot& s);
    void fail_slot(slot& s, std::string_view what);
    void connect(slot& s);

    net::io_context& ioc_;
    std::string conninfo_;
    std::vector<std::string> sqls_;
    std::chrono::milliseconds timeout_;
    std::vector<std::unique_ptr<slot>> slots_;
    std::deque<request> waiting_;
    counters counters_;
    bool stopped_ = false;
};

}  // namespace gw::pg
