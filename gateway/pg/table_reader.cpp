#include "pg/table_reader.hpp"

#include "log.hpp"

#include <algorithm>

namespace gw::pg {

namespace {

constexpr auto connect_timeout = std::chrono::seconds(10);
// A resume whose transaction failed this often is answered `failed` (a token the
// functions choke on must not block the queue for good).
constexpr unsigned max_resume_attempts = 3;

std::string_view column(PGresult* r, int row, int col) {
    return {PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col))};
}

const char* step_name(int s) {
    static const char* const names[] = {"none",      "check_schema", "start_cursor", "read",          "begin_resume",
                                        "resumable", "resume_live",  "resume_token", "commit_resume", "trim"};
    return names[s];
}

std::string one_line(std::string msg) {
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    return msg;
}

}  // namespace

table_reader::table_reader(net::io_context& ioc, settings s)
    : ioc_(ioc),
      settings_(std::move(s)),
      sql_(settings_.source),
      conn_(ioc, settings_.conninfo, "sse-gateway-table"),
      retry_timer_(ioc),
      statement_timer_(ioc),
      poll_timer_(ioc),
      trim_timer_(ioc),
      rng_(std::random_device{}()) {
    settings_.max_rows = std::max(settings_.max_rows, 1u);
}

table_reader::~table_reader() = default;

void table_reader::start(receiver& r) {
    assert_on_thread(ioc_);
    receiver_ = &r;
    net::post(ioc_, [this] { do_connect(); });
    arm_trim();
}

void table_reader::stop() {
    assert_on_thread(ioc_);
    stopped_ = true;
    retry_timer_.cancel();
    statement_timer_.cancel();
    poll_timer_.cancel();
    trim_timer_.cancel();
    conn_.teardown();
    step_ = step::none;
    auto pending = std::move(resumes_);
    resumes_.clear();
    for (auto& r : pending) r.done(resume_result::failed, {});
    set_status(status::down, "stopped");
}

void table_reader::want(const std::string& channel) {
    if (!wanted_.insert(channel).second) return;
    channels_dirty_ = true;
    ++wanted_gen_;
    ring();
}

void table_reader::drop(const std::string& channel) {
    if (wanted_.erase(channel) > 0) channels_dirty_ = true;
}

void table_reader::ring() {
    read_queued_ = true;
    pump();
}

void table_reader::resume(std::string token, std::string channel, resume_callback done) {
    assert_on_thread(ioc_);
    // Not installed: nothing to replay from until an operator fixes it; the stream
    // gets the snapshot now rather than waiting.
    if (stopped_ || status_ == status::schema_missing) return done(resume_result::failed, {});
    resumes_.push_back({std::move(token), std::move(channel), std::move(done)});
    pump();
}

void table_reader::do_connect() {
    if (stopped_) return;
    connecting_ = true;
    conn_.async_connect(connect_timeout, [this](bool ok) {
        connecting_ = false;
        if (stopped_) return;
        if (!ok) return lost("connect");
        on_connected();
    });
}

void table_reader::on_connected() {
    const auto server = conn_.server();
    log::info("events table connected")
        .str("host", server.host)
        .str("port", server.port)
        .num("backend_pid", static_cast<std::int64_t>(server.backend_pid));
    send(step::check_schema, sql_.missing_objects(), {});
}

void table_reader::on_schema_checked() {
    if (!result_value_.empty()) {
        // Not a connection fault: say what is missing and look again now and then
        // (the operator may be running the SQL file right now).
        std::string reason = "missing in the database: " + result_value_ + " (run deploy/sql/sse_gateway_events.sql)";
        log::error("events source not installed").str("missing", result_value_);
        conn_.teardown();
        set_status(status::schema_missing, std::move(reason));
        auto pending = std::move(resumes_);
        resumes_.clear();
        for (auto& r : pending) r.done(resume_result::failed, {});
        return schedule_reconnect(settings_.backoff_cap);
    }
    // A new connection starts where the last one stopped: the cursor is kept.
    if (cursor_.empty()) return send(step::start_cursor, sql_.read(), {std::nullopt, "{}", "1"});
    become_up();
}

void table_reader::become_up() {
    if (ever_connected_) counters_.reconnects.inc();
    ever_connected_ = true;
    attempt_ = 0;
    set_status(status::up, "");
    arm_poll();
    read_queued_ = true;  // what committed while we were away, or since the start
    pump();
}

void table_reader::pump() {
    if (stopped_ || status_ != status::up || step_ != step::none) return;
    if (!resumes_.empty()) {
        replay_.clear();
        return send(step::begin_resume, "BEGIN ISOLATION LEVEL REPEATABLE READ", {});
    }
    if (read_queued_ || read_more_) {
        read_queued_ = false;
        read_more_ = false;
        return send_read(step::read, cursor_, channels_param());
    }
    if (trim_due_) {
        trim_due_ = false;
        return send(step::trim, table_sql::trim(),
                    {std::to_string(settings_.retention.count()), std::to_string(settings_.trim_max_rows)});
    }
}

void table_reader::send_read(step s, const std::string& cursor, std::optional<std::string> filter) {
    counters_.reads.inc();
    step_gen_ = wanted_gen_;
    send(s, sql_.read(), {cursor, std::move(filter), std::to_string(settings_.max_rows)});
}

void table_reader::send(step s, const char* sql, std::vector<std::optional<std::string>> params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    log::debug("events table statement").str("step", step_name(static_cast<int>(s)));
    step_ = s;
    step_failed_ = false;
    step_error_.clear();
    result_more_ = false;
    result_next_.clear();
    result_value_.clear();
    // Binary results: bytea arrives as its bytes, the id and `more` need no parsing.
    if (PQsendQueryParams(conn_.get(), sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr,
                          1) == 0)
        return lost("send");
    if (!conn_.flush()) return lost("write");
    statement_timer_.expires_after(settings_.statement_timeout);
    statement_timer_.async_wait([this, n = ++sent_](error_code ec) {
        if (!ec && n == sent_ && step_ != step::none) lost("statement timeout");
    });
    conn_.wait_readable([this] { on_readable(); });
}

void table_reader::on_readable() {
    if (!conn_.consume_input()) return lost("read");
    while (!conn_.busy()) {
        result_ptr r = conn_.next_result();
        if (!r) {
            statement_timer_.cancel();
            const step s = step_;
            step_ = step::none;
            log::debug("events table statement done").str("step", step_name(static_cast<int>(s)));
            return on_complete(s);
        }
        on_result(r.get());
        if (!conn_.connected()) return;  // lost meanwhile
    }
    // A flush may have been waiting for the server to read: try again now.
    if (!conn_.flush()) return lost("write");
    conn_.wait_readable([this] { on_readable(); });
}

void table_reader::on_result(PGresult* r) {
    const auto st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK) return;
    if (st != PGRES_TUPLES_OK) {
        step_failed_ = true;
        step_error_ = one_line(PQresultErrorMessage(r));
        return;
    }
    switch (step_) {
        case step::check_schema:
            for (int i = 0; i < PQntuples(r); ++i) {
                if (!result_value_.empty()) result_value_ += ", ";
                result_value_ += column(r, i, 0);
            }
            return;
        case step::resumable:
        case step::trim:
            if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) result_value_ = std::string(column(r, 0, 0));
            return;
        case step::start_cursor:
            if (PQntuples(r) < 1 || PQnfields(r) != 5 || !take_trailer(r, PQntuples(r) - 1))
                step_failed_ = true;
            else
                cursor_ = result_next_;
            return;
        case step::read:
        case step::resume_live:
            return hand_out_live(r);
        case step::resume_token:
            return collect_replay(r);
        default:
            return;
    }
}

bool table_reader::take_trailer(PGresult* r, int row) {
    if (!PQgetisnull(r, row, 0) || PQgetisnull(r, row, 3) || PQgetisnull(r, row, 4)) {
        step_error_ = "the read returned no cursor";
        return false;
    }
    result_next_ = std::string(column(r, row, 3));
    result_more_ = PQgetlength(r, row, 4) == 1 && *PQgetvalue(r, row, 4) != 0;
    return true;
}

void table_reader::hand_out_live(PGresult* r) {
    const int n = PQntuples(r);
    if (n < 1 || PQnfields(r) != 5 || !take_trailer(r, n - 1)) {
        step_failed_ = true;
        return;
    }
    // The cursor moves with the rows it covers, in one step: a connection lost
    // after this result was handed out reads again from after it, never before.
    cursor_ = result_next_;
    const auto now = std::chrono::steady_clock::now();
    batch_.clear();
    for (int i = 0; i + 1 < n; ++i) {
        auto channel = column(r, i, 1);
        // Also for solid cable, whose SQL filter is by hash (hashes can collide).
        if (wanted_.find(channel) == wanted_.end()) continue;
        batch_.push_back({channel, column(r, i, 2), column(r, i, 3), now});
    }
    if (batch_.empty()) return;
    counters_.rows.inc(batch_.size());
    receiver_->on_rows(batch_);
}

void table_reader::collect_replay(PGresult* r) {
    const int n = PQntuples(r);
    if (n < 1 || PQnfields(r) != 5 || !take_trailer(r, n - 1)) {
        step_failed_ = true;
        return;
    }
    const auto& channel = resumes_.front().channel;
    for (int i = 0; i + 1 < n; ++i) {
        if (column(r, i, 1) != channel) continue;  // a solid cable hash collision
        replay_.push_back({channel, std::string(column(r, i, 2)), std::string(column(r, i, 3))});
    }
}

void table_reader::on_complete(step s) {
    if (step_failed_) {
        log::error("events table statement failed").str("error", step_error_);
        return lost("statement");
    }
    switch (s) {
        case step::check_schema:
            return on_schema_checked();
        case step::start_cursor:
            return become_up();
        case step::read:
            covered_gen_ = step_gen_;
            read_more_ = result_more_;
            return pump();
        case step::trim:
            if (result_value_.size() == 8) {  // binary bigint, big-endian
                std::uint64_t v = 0;
                for (unsigned char b : result_value_) v = (v << 8) | b;
                const auto n = static_cast<std::int64_t>(v);
                counters_.trimmed.inc(static_cast<std::uint64_t>(n));
                if (n > 0) log::debug("events trimmed").num("rows", n);
                trim_due_ = n >= static_cast<std::int64_t>(settings_.trim_max_rows);  // more to trim: go on
            }
            return pump();
        case step::begin_resume:
            return send(step::resumable, sql_.resumable(), {resumes_.front().token});
        case step::resumable:
            // Binary boolean: one byte.
            resumable_ = result_value_.size() == 1 && result_value_[0] != 0;
            if (!resumable_) return send(step::commit_resume, "COMMIT", {});
            return send_read(step::resume_live, cursor_, channels_param());
        case step::resume_live:
            // The live cursor first, to the transaction's snapshot: its rows reach
            // the streams already there, and the token's replay ends at the same point.
            covered_gen_ = step_gen_;
            if (result_more_) return send_read(step::resume_live, cursor_, channels_param());
            read_more_ = false;
            replay_cursor_ = resumes_.front().token;
            return send_read(step::resume_token, replay_cursor_, sql_.channel_filter(resumes_.front().channel));
        case step::resume_token:
            if (result_more_) {
                replay_cursor_ = result_next_;
                return send_read(step::resume_token, replay_cursor_, sql_.channel_filter(resumes_.front().channel));
            }
            return send(step::commit_resume, "COMMIT", {});
        case step::commit_resume:
            return finish_resume(resumable_ ? resume_result::resumed : resume_result::not_resumable);
        case step::none:
            return;
    }
}

void table_reader::finish_resume(resume_result res) {
    auto req = std::move(resumes_.front());
    resumes_.pop_front();
    const auto now = std::chrono::steady_clock::now();
    std::vector<table_row> rows;
    rows.reserve(replay_.size());
    for (const auto& o : replay_) rows.push_back({o.channel, o.payload, o.event_id, now});
    if (res == resume_result::resumed) counters_.resumes.inc();
    req.done(res, rows);
    replay_.clear();
    pump();
}

void table_reader::lost(std::string_view what) {
    counters_.failures.inc();
    const std::string error = step_error_.empty() ? conn_.error() : step_error_;
    log::warn("events table connection lost")
        .str("during", what)
        .str("error", error)
        .num("attempt", static_cast<std::int64_t>(attempt_));
    // A resume in progress starts again on the next connection (its transaction
    // is gone with this one), unless it keeps failing.
    if (is_resume(step_) && !resumes_.empty() && ++resumes_.front().attempts >= max_resume_attempts) {
        auto req = std::move(resumes_.front());
        resumes_.pop_front();
        req.done(resume_result::failed, {});
    }
    replay_.clear();
    step_ = step::none;
    conn_.teardown();
    statement_timer_.cancel();
    poll_timer_.cancel();
    set_status(status::down, std::string(what) + ": " + error);
    auto ceiling = std::min<std::chrono::milliseconds>(settings_.backoff_cap,
                                                       settings_.backoff_base * (1u << std::min(attempt_, 10u)));
    ++attempt_;
    // Jitter in [ceiling/2, ceiling] keeps replicas from reconnecting in lockstep.
    std::uniform_int_distribution<std::int64_t> pick(ceiling.count() / 2, ceiling.count());
    schedule_reconnect(std::chrono::milliseconds(pick(rng_)));
}

void table_reader::schedule_reconnect(std::chrono::milliseconds after) {
    if (stopped_) return;
    retry_timer_.expires_after(after);
    retry_timer_.async_wait([this](error_code ec) {
        if (!ec) do_connect();
    });
}

void table_reader::set_status(status s, std::string reason) {
    if (s == status_ && reason == reason_) return;
    status_ = s;
    reason_ = std::move(reason);
    counters_.up.set(s == status::up ? 1 : 0);
    if (receiver_) receiver_->on_status(status_, reason_);
}

void table_reader::arm_poll() {
    if (settings_.poll_interval.count() <= 0) return;
    poll_timer_.expires_after(settings_.poll_interval);
    poll_timer_.async_wait([this](error_code ec) {
        if (ec || status_ != status::up) return;
        ring();
        arm_poll();
    });
}

void table_reader::arm_trim() {
    if (sql_.source() != table_source::table || settings_.trim_interval.count() <= 0) return;
    trim_timer_.expires_after(settings_.trim_interval);
    trim_timer_.async_wait([this](error_code ec) {
        if (ec || stopped_) return;
        trim_due_ = true;
        pump();
        arm_trim();
    });
}

const std::optional<std::string>& table_reader::channels_param() {
    if (channels_dirty_) {
        channels_param_ = sql_.channel_filter(wanted_);
        channels_dirty_ = false;
    }
    return channels_param_;
}

}  // namespace gw::pg
