#pragma once
// Reads the database's pg_notification_queue_usage() now and then for /metrics.
// The NOTIFY queue is shared by the whole cluster: when a listener (any
// listener, in any database) sits in a long transaction, the queue fills, and
// at 100% every NOTIFY -- the app's writes that send them -- fails. The read
// goes through the query pool, never the LISTEN connection, and at most one is
// outstanding: a slow database costs a skipped read, never a queue of them.
//
// The last value read is kept when a read fails (the queue rarely empties just
// because the gateway cannot see it); up() says whether the last read worked.
// NaN until the first read succeeds.
//
// Thread rule: start(), stop() and the reads run on the listener's io_context;
// usage() and up() may be read from any thread.
#include "metrics.hpp"
#include "net.hpp"
#include "pg/query_pool.hpp"

#include <atomic>
#include <chrono>

namespace gw::pg {

class queue_monitor {
public:
    queue_monitor(net::io_context& ioc, query_pool& pool, std::chrono::seconds interval);

    // First read at once, then every interval.
    void start();
    void stop();

    double usage() const { return usage_.load(std::memory_order_relaxed); }
    bool up() const { return up_.load(std::memory_order_relaxed); }
    const metrics::counter& failures() const { return failures_; }

private:
    void do_read();
    void on_read(bool ok, const std::optional<std::string>& value);
    void arm();

    query_pool& pool_;
    std::chrono::seconds interval_;
    net::steady_timer timer_;
    bool in_flight_ = false;
    bool stopped_ = false;
    std::atomic<double> usage_;
    std::atomic<bool> up_{false};
    metrics::counter failures_;  // reads that failed (database down, error, timeout)
};

}  // namespace gw::pg
