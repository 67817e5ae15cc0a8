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
// A channel catch-up whose snapshot query failed is retried this often, this many times.
constexpr auto catch_up_retry = std::chrono::seconds(1);
constexpr unsigned catch_up_attempts = 30;

}  // namespace

listener::listener(net::io_context& ioc, settings s, hooks h)
    : ioc_(ioc),
      settings_(std::move(s)),
      hooks_(std::move(h)),
      conn_(ioc, settings_.conninfo, "sse-gateway"),
      retry_timer_(ioc),
      ping_timer_(ioc),
      rng_(std::random_device{}()) {
    if (!settings_.shared_channel.empty()) set_.carry_on(settings_.shared_channel);
    if (!settings_.broadcast_channel.empty()) set_.pin(settings_.broadcast_channel);
    const bool read_queue = settings_.queue_usage_interval.count() > 0;
    // Without snapshots, the queue reads get one connection of their own.
    if (snapshots() || read_queue)
        pool_ = std::make_unique<query_pool>(ioc_, settings_.conninfo, settings_.snapshot_sql,
                                             snapshots() ? settings_.snapshot_pool : 1u, settings_.snapshot_timeout);
    if (read_queue) queue_ = std::make_unique<queue_monitor>(ioc_, *pool_, settings_.queue_usage_interval);
}

listener::~listener() = default;

void listener::start() {
    net::post(ioc_, [this] { do_connect(); });
    if (queue_) queue_->start();
}

void listener::add(std::string channel, std::string user, unsigned shard, std::uint64_t seq) {
    net::post(ioc_, [this, channel = std::move(channel), user = std::move(user), shard, seq] {
        if (state_ == state::stopped) return;
        auto now = set_.add(channel, user, shard, seq, seq_);
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

void listener::catch_up(std::string channel, std::optional<std::uint64_t> last_seq,
                        std::function<void(catch_up_reply)> reply) {
    net::post(ioc_, [this, channel = std::move(channel), last_seq, reply = std::move(reply)] {
        channel_record* rec = set_.record(channel);
        if (last_seq && rec) {
            auto frames = rec->replay.after(*last_seq, seq_, std::chrono::steady_clock::now(), settings_.replay_age);
            if (frames) {
                counters_.replays.inc();
                return reply({std::move(*frames), true});
            }
        }
        if (!snapshots() || !rec || state_ == state::stopped) return reply({});
        // The snapshot carries the id of the newest event so far: every event up to
        // it is reflected in the state the query reads, so a reconnect with this id
        // can be answered from the replay buffer.
        pool_->run(rec->user, [this, channel, reply, at = seq_](bool ok, std::optional<std::string> value) {
            if (!ok || !value) return reply({});
            counters_.snapshots.inc();
            // On a channel that has had no NOTIFY yet, the snapshot is the last state
            // its streams were told: a catch-up after an outage compares with it, so
            // an unchanged status is not sent again. A NOTIFY's payload is newer
            // news than any snapshot, so it is never overwritten.
            if (channel_record* r = set_.record(channel); r && r->last_payload.empty()) r->last_payload = *value;
            reply({{hooks_.frame(at, *value)}, false});
        });
    });
}

void listener::stop() {
    net::post(ioc_, [this] {
        state_ = state::stopped;
        retry_timer_.cancel();
        ping_timer_.cancel();
        conn_.teardown();
        if (queue_) queue_->stop();
        if (pool_) pool_->stop();
        counters_.up.set(0);
        update_ready();
        log::info("database listener stopped");
    });
}

void listener::do_connect() {
    if (state_ == state::stopped) return;
    state_ = state::connecting;
    conn_.async_connect(connect_timeout, [this](bool ok) {
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
    PGconn* c = conn_.get();
    log::info("database connected")
        .str("host", PQhost(c) ? PQhost(c) : "")
        .str("port", PQport(c) ? PQport(c) : "")
        .num("server_version", static_cast<std::int64_t>(PQserverVersion(c)))
        .num("backend_pid", static_cast<std::int64_t>(PQbackendPID(c)));
    do_wait_read();
    schedule_batch();
    arm_ping(settings_.ping_interval);
    update_ready();
}

void listener::arm_ping(std::chrono::steady_clock::duration after) {
    ping_timer_.expires_after(after);
    ping_timer_.async_wait([this](error_code ec) {
        if (!ec && state_ == state::connected) on_ping_timer();
    });
}

void listener::on_ping_timer() {
    if (ping_in_flight_) return lost("liveness check");
    // A batch in flight is answer enough that the connection lives: look again later.
    if (command_in_flight_) return arm_ping(settings_.ping_interval);
    if (PQsendQuery(conn_.get(), "") == 0) return lost("send");
    command_in_flight_ = true;
    ping_in_flight_ = true;
    command_failed_ = false;
    if (!conn_.flush()) return lost("write");
    arm_ping(settings_.ping_interval);  // the deadline for the answer
}

void listener::do_wait_read() {
    conn_.wait_readable([this] {
        if (state_ == state::connected) on_readable();
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
    if (!conn_.flush()) return lost("write");
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
    if (state_ != state::connected || command_in_flight_) return;
    auto ops = set_.take_batch(max_batch_ops);
    if (ops.empty()) return update_ready();
    std::string sql;
    for (const auto& o : ops) {
        auto quoted = conn_.quote_identifier(o.channel);
        if (quoted.empty()) return lost("escape identifier");
        sql.append(o.listen ? "LISTEN " : "UNLISTEN ").append(quoted).append(";");
    }
    // Several statements in one simple query run as one implicit transaction that
    // commits at the end: the LISTENs take effect together, and the last result
    // arriving means all of them are active.
    if (PQsendQuery(conn_.get(), sql.c_str()) == 0) return lost("send");
    command_in_flight_ = true;
    command_failed_ = false;
    log::debug("listen batch sent").num("statements", static_cast<std::int64_t>(ops.size()));
    if (!conn_.flush()) return lost("write");
}

void listener::on_batch_result(PGresult* r) {
    if (r) {
        const auto st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && !(ping_in_flight_ && st == PGRES_EMPTY_QUERY)) {
            command_failed_ = true;
            log::error("listen batch failed").str("error", conn_.error());
        }
        return;
    }
    // No more results: the command is complete.
    command_in_flight_ = false;
    if (ping_in_flight_) {
        ping_in_flight_ = false;
        if (command_failed_) return lost("liveness check");
        arm_ping(settings_.ping_interval);
        return schedule_batch();
    }
    if (command_failed_) return lost("listen batch");
    auto done = set_.confirm(seq_);
    counters_.channels.set(static_cast<std::int64_t>(set_.listened_count()));
    std::vector<std::vector<listen_set::announcement>> per_shard(max_shards);
    for (auto& a : done.announce) per_shard[a.shard].push_back(std::move(a));
    for (unsigned s = 0; s < max_shards; ++s)
        if (!per_shard[s].empty()) hooks_.announce(s, std::move(per_shard[s]));
    for (const auto& channel : done.catch_up) catch_up_channel(channel, 0);
    schedule_batch();
    update_ready();
}

void listener::publish(const std::string& channel, std::string_view payload,
                       std::vector<std::vector<delivery>>& per_shard) {
    auto [rec, shards] = set_.find_route(channel);
    if (shards == 0 || !rec) {
        counters_.unrouted.inc();
        return;
    }
    // One clock read per event: the replay buffer's age and the latency histogram's start.
    const auto now = std::chrono::steady_clock::now();
    auto frame = hooks_.frame(++seq_, payload);
    rec->replay.push(seq_, frame, now, settings_.replay_size, settings_.replay_age);
    rec->last_payload = payload;
    if (per_shard.empty()) per_shard.resize(max_shards);
    for (unsigned s = 0; shards != 0; ++s, shards >>= 1)
        if (shards & 1) per_shard[s].push_back({channel, frame, now});
}

void listener::publish_broadcast(std::string_view payload, std::vector<std::vector<delivery>>& per_shard) {
    // Not kept for replay: a broadcast belongs to no channel's history.
    auto frame = hooks_.frame(++seq_, payload);
    if (per_shard.empty()) per_shard.resize(max_shards);
    const auto now = std::chrono::steady_clock::now();
    for (unsigned s = 0; s < settings_.shards; ++s) per_shard[s].push_back({std::string(), frame, now});
}

void listener::flush_deliveries(std::vector<std::vector<delivery>>& per_shard) {
    for (unsigned s = 0; s < per_shard.size(); ++s)
        if (!per_shard[s].empty()) hooks_.deliver(s, std::move(per_shard[s]));
}

void listener::route_notifications() {
    std::vector<std::vector<delivery>> per_shard;
    while (notify_ptr n{PQnotifies(conn_.get())}) {
        counters_.notifications.inc();
        std::string_view channel = n->relname;
        if (channel == settings_.broadcast_channel) {
            publish_broadcast(n->extra, per_shard);
        } else if (channel == settings_.shared_channel) {
            if (auto user_channel = hooks_.route_shared(n->extra))
                publish(*user_channel, n->extra, per_shard);
            else
                counters_.unrouted.inc();
        } else {
            publish(n->relname, n->extra, per_shard);
        }
    }
    flush_deliveries(per_shard);
}

void listener::catch_up_channel(const std::string& channel, unsigned attempt) {
    channel_record* rec = set_.record(channel);
    if (!snapshots() || !rec) return;
    if (attempt == 0) counters_.catch_ups.inc();
    pool_->run(rec->user, [this, channel, attempt](bool ok, std::optional<std::string> value) {
        auto [rec, shards] = set_.find_route(channel);
        // Gone, or lost again (the next re-LISTEN catches up anew).
        if (!rec || shards == 0 || state_ != state::connected) return;
        if (!ok) {
            if (attempt + 1 >= catch_up_attempts) {
                log::warn("catch-up gave up").str("channel", channel);
                return;
            }
            auto t = std::make_shared<net::steady_timer>(ioc_, catch_up_retry);
            t->async_wait([this, t, channel, attempt](error_code ec) {
                if (!ec) catch_up_channel(channel, attempt + 1);
            });
            return;
        }
        // Only what differs from the channel's last event is news.
        if (!value || *value == rec->last_payload) return;
        counters_.snapshots.inc();
        std::vector<std::vector<delivery>> per_shard;
        publish(channel, *value, per_shard);
        flush_deliveries(per_shard);
    });
}

void listener::lost(std::string_view what) {
    counters_.failures.inc();
    log::warn("database connection lost")
        .str("during", what)
        .str("error", conn_.error())
        .num("attempt", static_cast<std::int64_t>(attempt_));
    conn_.teardown();
    ping_timer_.cancel();
    ping_in_flight_ = false;
    command_in_flight_ = false;
    batch_scheduled_ = false;
    counters_.up.set(0);
    set_.reset();
    counters_.channels.set(0);
    hooks_.down();
    schedule_reconnect();
    update_ready();
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

void listener::update_ready() {
    ready_.store(state_ == state::connected && set_.settled(), std::memory_order_relaxed);
}

}  // namespace gw::pg
