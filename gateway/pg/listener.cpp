#include "pg/listener.hpp"

#include "log.hpp"

#include <algorithm>

namespace gw::pg {

namespace {

// Statements per batch: bounds the query text and the time one batch holds the backend.
constexpr std::size_t max_batch_ops = 1000;
constexpr auto connect_timeout = std::chrono::seconds(10);
constexpr auto backoff_base = std::chrono::milliseconds(250);
constexpr auto backoff_cap = std::chrono::seconds(10);

std::string pq_error(PGconn* c) {
    std::string msg = c ? PQerrorMessage(c) : "out of memory";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    return msg;
}

}  // namespace

listener::listener(net::io_context& ioc, std::string conninfo, hooks h)
    : ioc_(ioc),
      conninfo_(std::move(conninfo)),
      hooks_(std::move(h)),
      retry_timer_(ioc),
      connect_deadline_(ioc),
      rng_(std::random_device{}()) {}

listener::~listener() { teardown(); }

void listener::start() {
    net::post(ioc_, [this] { do_connect(); });
}

void listener::add(std::string channel, unsigned shard, std::uint64_t seq) {
    net::post(ioc_, [this, channel = std::move(channel), shard, seq] {
        if (state_ == state::stopped) return;
        auto now = set_.add(channel, shard, seq);
        if (!now.empty()) hooks_.announce(shard, std::move(now));
        schedule_batch();
        update_ready();
    });
}

void listener::remove(std::string channel, unsigned shard) {
    net::post(ioc_, [this, channel = std::move(channel), shard] {
        if (state_ == state::stopped) return;
        set_.remove(channel, shard);
        schedule_batch();
        update_ready();
    });
}

void listener::stop() {
    net::post(ioc_, [this] {
        state_ = state::stopped;
        retry_timer_.cancel();
        connect_deadline_.cancel();
        teardown();
        update_ready();
        log::info("database listener stopped");
    });
}

void listener::do_connect() {
    if (state_ == state::stopped) return;
    state_ = state::connecting;
    // The conninfo (URI or key=value) is expanded from "dbname"; the keys after it
    // override it, so keepalives are always on for the long-lived LISTEN session.
    const char* keys[] = {"dbname",        "application_name", "keepalives", "keepalives_idle",
                          "keepalives_interval", "keepalives_count", nullptr};
    const char* values[] = {conninfo_.c_str(), "sse-gateway", "1", "30", "10", "3", nullptr};
    conn_.reset(PQconnectStartParams(keys, values, 1));
    if (!conn_ || PQstatus(conn_.get()) == CONNECTION_BAD) return lost("connect");
    connect_deadline_.expires_after(connect_timeout);
    connect_deadline_.async_wait([this, g = gen_](error_code ec) {
        if (ec || g != gen_ || state_ != state::connecting) return;
        lost("connect timeout");
    });
    // libpq's contract: behave as if the first poll asked to wait for writing.
    on_connect_poll(PGRES_POLLING_WRITING);
}

void listener::on_connect_poll(PostgresPollingStatusType poll) {
    if (poll == PGRES_POLLING_OK) return on_connected();
    if (poll == PGRES_POLLING_FAILED) return lost("connect");
    // The socket may change between polls (e.g. trying the next host): re-read it.
    if (!watch_socket()) return lost("connect");
    auto what = poll == PGRES_POLLING_READING ? net::posix::descriptor::wait_read
                                              : net::posix::descriptor::wait_write;
    sock_->async_wait(what, [this, g = gen_](error_code ec) {
        if (ec || g != gen_ || state_ != state::connecting) return;
        on_connect_poll(PQconnectPoll(conn_.get()));
    });
}

bool listener::watch_socket() {
    int fd = PQsocket(conn_.get());
    if (fd < 0) return false;
    if (fd == sock_fd_ && sock_) return true;
    if (sock_) {
        sock_->cancel();
        sock_->release();  // libpq owns the fd; Asio must never close it
    }
    sock_.emplace(ioc_, fd);
    sock_fd_ = fd;
    return true;
}

void listener::on_connected() {
    connect_deadline_.cancel();
    if (PQsetnonblocking(conn_.get(), 1) != 0) return lost("set nonblocking");
    if (!watch_socket()) return lost("socket");
    state_ = state::connected;
    attempt_ = 0;
    counters_.up.set(1);
    if (ever_connected_) counters_.reconnects.inc();
    ever_connected_ = true;
    log::info("database connected")
        .str("host", PQhost(conn_.get()) ? PQhost(conn_.get()) : "")
        .str("port", PQport(conn_.get()) ? PQport(conn_.get()) : "")
        .num("server_version", static_cast<std::int64_t>(PQserverVersion(conn_.get())));
    do_wait_read();
    schedule_batch();
    update_ready();
}

void listener::do_wait_read() {
    sock_->async_wait(net::posix::descriptor::wait_read, [this, g = gen_](error_code ec) {
        if (ec || g != gen_ || state_ != state::connected) return;
        on_readable();
    });
}

void listener::on_readable() {
    PGconn* c = conn_.get();
    if (PQconsumeInput(c) == 0) return lost("read");
    while (command_in_flight_ && !PQisBusy(c)) {
        result_ptr r(PQgetResult(c));
        on_batch_result(r.get());
        if (state_ != state::connected) return;
    }
    route_notifications();
    // A flush may have been waiting for the server to read: try again now.
    if (PQisnonblocking(c) && !write_waiting_) do_flush();
    if (state_ == state::connected) do_wait_read();
}

void listener::do_flush() {
    int r = PQflush(conn_.get());
    if (r < 0) return lost("write");
    if (r == 0 || write_waiting_) return;
    write_waiting_ = true;
    sock_->async_wait(net::posix::descriptor::wait_write, [this, g = gen_](error_code ec) {
        if (g != gen_) return;
        write_waiting_ = false;
        if (ec || state_ != state::connected) return;
        do_flush();
    });
}

void listener::schedule_batch() {
    if (batch_scheduled_ || state_ != state::connected) return;
    batch_scheduled_ = true;
    // Posting lets every add/remove already queued land in this same batch.
    net::post(ioc_, [this, g = gen_] {
        batch_scheduled_ = false;
        if (g != gen_) return;
        do_batch();
    });
}

void listener::do_batch() {
    if (state_ != state::connected || command_in_flight_) return;
    auto ops = set_.take_batch(max_batch_ops);
    if (ops.empty()) return update_ready();
    std::string sql;
    for (const auto& o : ops) {
        char* quoted = PQescapeIdentifier(conn_.get(), o.channel.data(), o.channel.size());
        if (!quoted) return lost("escape identifier");
        sql.append(o.listen ? "LISTEN " : "UNLISTEN ").append(quoted).append(";");
        PQfreemem(quoted);
    }
    // Several statements in one simple query run as one implicit transaction that
    // commits at the end: the LISTENs take effect together, and the last result
    // arriving means all of them are active.
    if (PQsendQuery(conn_.get(), sql.c_str()) == 0) return lost("send");
    command_in_flight_ = true;
    command_failed_ = false;
    log::debug("listen batch sent").num("statements", static_cast<std::int64_t>(ops.size()));
    do_flush();
}

void listener::on_batch_result(PGresult* r) {
    if (r) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            command_failed_ = true;
            log::error("listen batch failed").str("error", pq_error(conn_.get()));
        }
        return;
    }
    // No more results: the batch is complete.
    command_in_flight_ = false;
    if (command_failed_) return lost("listen batch");
    auto announcements = set_.confirm();
    counters_.channels.set(static_cast<std::int64_t>(set_.listened_count()));
    std::vector<std::vector<listen_set::announcement>> per_shard(max_shards);
    for (auto& a : announcements) per_shard[a.shard].push_back(std::move(a));
    for (unsigned s = 0; s < max_shards; ++s)
        if (!per_shard[s].empty()) hooks_.announce(s, std::move(per_shard[s]));
    schedule_batch();
    update_ready();
}

void listener::route_notifications() {
    std::vector<std::vector<delivery>> per_shard;
    while (notify_ptr n{PQnotifies(conn_.get())}) {
        counters_.notifications.inc();
        std::string channel = n->relname;
        std::uint64_t shards = set_.listeners(channel);
        if (shards == 0) {
            counters_.unrouted.inc();
            continue;
        }
        auto frame = hooks_.frame(channel, n->extra);
        if (per_shard.empty()) per_shard.resize(max_shards);
        for (unsigned s = 0; shards != 0; ++s, shards >>= 1)
            if (shards & 1) per_shard[s].push_back({channel, frame});
    }
    for (unsigned s = 0; s < per_shard.size(); ++s)
        if (!per_shard[s].empty()) hooks_.deliver(s, std::move(per_shard[s]));
}

void listener::lost(std::string_view what) {
    counters_.failures.inc();
    log::warn("database connection lost")
        .str("during", what)
        .str("error", pq_error(conn_.get()))
        .num("attempt", static_cast<std::int64_t>(attempt_));
    teardown();
    set_.reset();
    counters_.channels.set(0);
    hooks_.down();
    update_ready();
    schedule_reconnect();
}

void listener::schedule_reconnect() {
    if (state_ == state::stopped) return;
    state_ = state::idle;
    auto ceiling = std::min<std::chrono::milliseconds>(backoff_cap, backoff_base * (1u << std::min(attempt_, 10u)));
    // Jitter in [ceiling/2, ceiling] keeps replicas from reconnecting in lockstep.
    std::uniform_int_distribution<std::int64_t> pick(ceiling.count() / 2, ceiling.count());
    auto delay = std::chrono::milliseconds(pick(rng_));
    ++attempt_;
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([this](error_code ec) {
        if (ec) return;
        do_connect();
    });
}

void listener::teardown() {
    ++gen_;
    if (sock_) {
        error_code ignored;
        sock_->cancel(ignored);
        // release() before PQfinish: the fd is libpq's and is closed exactly once, by it.
        sock_->release();
        sock_.reset();
    }
    sock_fd_ = -1;
    conn_.reset();
    command_in_flight_ = false;
    write_waiting_ = false;
    batch_scheduled_ = false;
    counters_.up.set(0);
}

void listener::update_ready() {
    ready_.store(state_ == state::connected && set_.settled(), std::memory_order_relaxed);
}

}  // namespace gw::pg
