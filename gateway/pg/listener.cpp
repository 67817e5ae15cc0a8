#include "pg/listener.hpp"

#include "log.hpp"
#include "pg/connection.hpp"

#include <algorithm>

namespace gw::pg {

namespace {

// Statements per batch: bounds the query text and the time one batch holds the backend.
constexpr std::size_t max_batch_ops = 1000;
constexpr auto connect_timeout = std::chrono::seconds(10);
constexpr auto backoff_base = std::chrono::milliseconds(250);
constexpr auto backoff_cap = std::chrono::seconds(10);

}  // namespace

listener::listener(net::io_context& ioc, settings s, std::unique_ptr<wire> conn)
    : ioc_(ioc),
      settings_(std::move(s)),
      conn_(conn ? std::move(conn) : std::make_unique<connection>(ioc, settings_.conninfo, "sse-gateway")),
      retry_timer_(ioc),
      ping_timer_(ioc),
      rng_(std::random_device{}()) {
    const bool read_queue = settings_.queue_usage_interval.count() > 0;
    // Without snapshots, the queue reads get one connection of their own.
    if (has_snapshots() || read_queue)
        pool_ =
            std::make_unique<query_pool>(ioc_, settings_.conninfo, settings_.snapshot_sqls,
                                         has_snapshots() ? settings_.snapshot_pool : 1u, settings_.snapshot_timeout);
    if (read_queue) queue_ = std::make_unique<queue_monitor>(ioc_, *pool_, settings_.queue_usage_interval);
}

listener::~listener() = default;

void listener::start(receiver& r) {
    receiver_ = &r;
    net::post(ioc_, [this] { do_connect(); });
    if (queue_) queue_->start();
}

bool listener::listen(const std::string& channel) {
    assert_on_thread(ioc_);
    if (state_ == state::stopped) return false;
    if (set_.want(channel)) return true;
    schedule_batch();
    update_settled();
    return false;
}

void listener::unlisten(const std::string& channel) {
    assert_on_thread(ioc_);
    if (state_ == state::stopped) return;
    set_.drop(channel);
    schedule_batch();
    update_settled();
}

void listener::snapshot(std::size_t query, const std::string& user, snapshot_callback done) {
    assert_on_thread(ioc_);
    // A route given an index the input was not configured with: a wiring bug, answered as a failed query.
    if (query >= settings_.snapshot_sqls.size()) return done(false, std::nullopt);
    pool_->run(query, user, std::move(done));
}

void listener::stop() {
    net::post(ioc_, [this] {
        state_ = state::stopped;
        retry_timer_.cancel();
        ping_timer_.cancel();
        conn_->teardown();
        if (queue_) queue_->stop();
        if (pool_) pool_->stop();
        counters_.up.set(0);
        update_settled();
        log::info("database listener stopped");
    });
}

void listener::do_connect() {
    if (state_ == state::stopped) return;
    state_ = state::connecting;
    conn_->async_connect(connect_timeout, [this](bool ok) {
        if (state_ != state::connecting) return;
        if (!ok) return lost("connect");
        on_connected();
    });
}

void listener::on_connected() {
    state_ = state::connected;
    attempt_ = 0;
    counters_.up.set(1);
    if (ever_connected_) counters_.reconnects.inc();
    ever_connected_ = true;
    const auto server = conn_->server();
    log::info("database connected")
        .str("host", server.host)
        .str("port", server.port)
        .num("server_version", static_cast<std::int64_t>(server.version))
        .num("backend_pid", static_cast<std::int64_t>(server.backend_pid));
    do_wait_read();
    schedule_batch();
    arm_ping(settings_.ping_interval);
    update_settled();
}

void listener::arm_ping(std::chrono::steady_clock::duration after) {
    ping_timer_.expires_after(after);
    ping_timer_.async_wait([this](error_code ec) {
        if (!ec && state_ == state::connected) on_ping_timer();
    });
}

void listener::on_ping_timer() {
    if (command_ == command::ping) return lost("liveness check");
    // A batch in flight is answer enough that the connection lives: look again later.
    if (command_ == command::listen_batch) return arm_ping(settings_.ping_interval);
    if (!conn_->send_query("")) return lost("send");
    command_ = command::ping;
    if (!conn_->flush()) return lost("write");
    arm_ping(settings_.ping_interval);  // the deadline for the answer
}

void listener::do_wait_read() {
    conn_->wait_readable([this] {
        if (state_ == state::connected) on_readable();
    });
}

void listener::on_readable() {
    if (!conn_->consume_input()) return lost("read");
    while (command_ != command::none && !conn_->busy()) {
        result_ptr r = conn_->next_result();
        on_batch_result(r.get());
        if (state_ != state::connected) return;
    }
    hand_out_notifications();
    // A flush may have been waiting for the server to read: try again now.
    if (!conn_->flush()) return lost("write");
    do_wait_read();
}

void listener::schedule_batch() {
    if (batch_scheduled_ || state_ != state::connected) return;
    batch_scheduled_ = true;
    // Posting lets every add/remove already queued land in this same batch.
    net::post(ioc_, [this] {
        batch_scheduled_ = false;
        do_batch();
    });
}

void listener::do_batch() {
    if (state_ != state::connected || command_ != command::none) return;
    auto ops = set_.take_batch(max_batch_ops);
    if (ops.empty()) return update_settled();
    std::string sql;
    for (const auto& o : ops) {
        auto quoted = conn_->quote_identifier(o.channel);
        if (quoted.empty()) return lost("escape identifier");
        sql.append(o.listen ? "LISTEN " : "UNLISTEN ").append(quoted).append(";");
    }
    // Several statements in one simple query run as one implicit transaction that
    // commits at the end: the LISTENs take effect together, and the last result
    // arriving means all of them are active.
    if (!conn_->send_query(sql)) return lost("send");
    command_ = command::listen_batch;
    log::debug("listen batch sent").num("statements", static_cast<std::int64_t>(ops.size()));
    if (!conn_->flush()) return lost("write");
}

void listener::on_batch_result(PGresult* r) {
    const bool ping = command_ == command::ping;
    if (r) {
        const auto st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || (ping && st == PGRES_EMPTY_QUERY)) return;
        // The rest of the command is moot: the connection is dropped and every
        // wanted channel listened again on the next one.
        log::error(ping ? "liveness check failed" : "listen batch failed").str("error", conn_->error());
        return lost(ping ? "liveness check" : "listen batch");
    }
    // No more results: the command is complete.
    command_ = command::none;
    if (ping) {
        arm_ping(settings_.ping_interval);
        return schedule_batch();
    }
    auto changes = set_.confirm();
    counters_.channels.set(static_cast<std::int64_t>(set_.listened_count()));
    if (!changes.empty()) receiver_->on_listen_changes(changes);
    schedule_batch();
    update_settled();
}

void listener::hand_out_notifications() {
    // One clock read per socket read: every notification in it arrived together.
    const auto now = std::chrono::steady_clock::now();
    notifies_.clear();
    batch_.clear();
    while (notify_ptr n = conn_->next_notify()) {
        batch_.push_back({n->relname, n->extra, now});
        notifies_.push_back(std::move(n));
    }
    if (batch_.empty()) return;
    counters_.notifications.inc(batch_.size());
    receiver_->on_notifications(batch_);
    notifies_.clear();  // the views die with the structs
}

void listener::lost(std::string_view what) {
    counters_.failures.inc();
    log::warn("database connection lost")
        .str("during", what)
        .str("error", conn_->error())
        .num("attempt", static_cast<std::int64_t>(attempt_));
    conn_->teardown();
    ping_timer_.cancel();
    command_ = command::none;
    batch_scheduled_ = false;
    counters_.up.set(0);
    set_.reset();
    counters_.channels.set(0);
    receiver_->on_down();
    schedule_reconnect();
    update_settled();
}

void listener::schedule_reconnect() {
    if (state_ == state::stopped) return;
    state_ = state::idle;
    auto ceiling = std::min<std::chrono::milliseconds>(backoff_cap, backoff_base * (1u << std::min(attempt_, 10u)));
    // Jitter in [ceiling/2, ceiling] keeps replicas from reconnecting in lockstep.
    std::uniform_int_distribution<std::int64_t> pick(ceiling.count() / 2, ceiling.count());
    ++attempt_;
    retry_timer_.expires_after(std::chrono::milliseconds(pick(rng_)));
    retry_timer_.async_wait([this](error_code ec) {
        if (!ec) do_connect();
    });
}

void listener::update_settled() {
    settled_.store(state_ == state::connected && set_.settled(), std::memory_order_relaxed);
}

}  // namespace gw::pg
