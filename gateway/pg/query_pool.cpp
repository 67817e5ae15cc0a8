#include "pg/query_pool.hpp"

#include "log.hpp"

#include <algorithm>

namespace gw::pg {

namespace {

constexpr auto connect_timeout = std::chrono::seconds(5);
constexpr auto backoff_base = std::chrono::milliseconds(250);
constexpr auto backoff_cap = std::chrono::seconds(5);

std::chrono::milliseconds backoff(unsigned attempt) {
    return std::min<std::chrono::milliseconds>(backoff_cap, backoff_base * (1u << std::min(attempt, 8u)));
}

}  // namespace

query_pool::query_pool(net::io_context& ioc, std::string conninfo, std::vector<std::string> sqls, unsigned size,
                       std::chrono::milliseconds timeout)
    : ioc_(ioc), conninfo_(std::move(conninfo)), sqls_(std::move(sqls)), timeout_(timeout) {
    for (unsigned i = 0; i < std::max(size, 1u); ++i) slots_.push_back(std::make_unique<slot>(ioc_, conninfo_));
}

query_pool::~query_pool() = default;

void query_pool::run(std::size_t query, std::string user, callback cb) {
    if (stopped_ || query >= sqls_.size()) return cb(false, std::nullopt);
    waiting_.push_back({{}, query, std::move(user), std::move(cb)});
    pump();
}

void query_pool::run_statement(std::string sql, callback cb) {
    if (stopped_) return cb(false, std::nullopt);
    waiting_.push_back({std::move(sql), 0, {}, std::move(cb)});
    pump();
}

void query_pool::stop() {
    stopped_ = true;
    for (auto& s : slots_) {
        s->timer.cancel();
        s->conn.teardown();
    }
}

void query_pool::pump() {
    if (stopped_) return;
    for (auto& s : slots_) {
        if (waiting_.empty()) return;
        if (s->conn.connected() && !s->current)
            start_query(*s);
        else if (!s->conn.connected() && !s->connecting)
            connect(*s);
    }
}

void query_pool::connect(slot& s) {
    s.connecting = true;
    s.conn.async_connect(connect_timeout, [this, &s](bool ok) {
        s.connecting = false;
        if (!ok) {
            log::warn("query connection failed")
                .str("error", s.conn.error())
                .num("attempt", static_cast<std::int64_t>(s.attempt));
            s.conn.teardown();
            // With no connection up, waiting requests would wait for an outage to
            // end: answer them now (the stream goes on without a snapshot).
            bool any_up = std::any_of(slots_.begin(), slots_.end(), [](auto& o) { return o->conn.connected(); });
            if (!any_up) {
                auto failed = std::move(waiting_);
                waiting_.clear();
                for (auto& r : failed) {
                    if (r.counted()) counters_.failures.inc();
                    r.cb(false, std::nullopt);
                }
            }
            s.connecting = true;  // backing off counts as connecting: pump() leaves the slot alone
            s.timer.expires_after(backoff(s.attempt++));
            s.timer.async_wait([this, &s](error_code ec) {
                s.connecting = false;
                if (!ec) pump();
            });
            return;
        }
        s.attempt = 0;
        if (s.ever_connected) counters_.reconnects.inc();
        s.ever_connected = true;
        pump();
    });
}

void query_pool::start_query(slot& s) {
    s.current = std::move(waiting_.front());
    waiting_.pop_front();
    const char* values[] = {s.current->user.c_str()};
    const bool snapshot = s.current->counted();
    if (PQsendQueryParams(s.conn.get(), snapshot ? sqls_[s.current->query].c_str() : s.current->sql.c_str(),
                          snapshot ? 1 : 0, nullptr, snapshot ? values : nullptr, nullptr, nullptr, 0) == 0 ||
        !s.conn.flush())
        return fail_slot(s, "send");
    s.timer.expires_after(timeout_);
    s.timer.async_wait([this, &s](error_code ec) {
        if (!ec && s.current) fail_slot(s, "timeout");
    });
    s.conn.wait_readable([this, &s] { on_readable(s); });
}

void query_pool::on_readable(slot& s) {
    PGconn* c = s.conn.get();
    if (PQconsumeInput(c) == 0) return fail_slot(s, "read");
    std::optional<std::string> value;
    bool ok = true;
    while (!PQisBusy(c)) {
        result_ptr r(PQgetResult(c));
        if (!r) {
            // The query is complete.
            s.timer.cancel();
            auto req = std::move(*s.current);
            s.current.reset();
            if (req.counted()) (ok ? counters_.queries : counters_.failures).inc();
            req.cb(ok, std::move(value));
            return pump();
        }
        auto st = PQresultStatus(r.get());
        if (st == PGRES_TUPLES_OK) {
            if (PQntuples(r.get()) > 0 && PQnfields(r.get()) > 0 && !PQgetisnull(r.get(), 0, 0))
                value = std::string(PQgetvalue(r.get(), 0, 0), static_cast<std::size_t>(PQgetlength(r.get(), 0, 0)));
        } else if (st != PGRES_COMMAND_OK) {
            ok = false;
            std::string msg = PQresultErrorMessage(r.get());
            std::replace(msg.begin(), msg.end(), '\n', ' ');
            log::warn(s.current->counted() ? "snapshot query failed" : "monitoring query failed").str("error", msg);
        }
    }
    s.conn.wait_readable([this, &s] { on_readable(s); });
}

void query_pool::fail_slot(slot& s, std::string_view what) {
    log::warn("query connection lost").str("during", what).str("error", s.conn.error());
    s.timer.cancel();
    s.conn.teardown();
    auto req = std::move(s.current);
    s.current.reset();
    if (req) {
        if (req->counted()) counters_.failures.inc();
        req->cb(false, std::nullopt);
    }
    pump();
}

}  // namespace gw::pg
