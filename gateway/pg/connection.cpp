#include "pg/connection.hpp"

#include "log.hpp"

#include <algorithm>

namespace gw::pg {

namespace {

// libpq prints notices, and the FATAL a server sends before it closes an idle
// session (pg_terminate_backend, a shutdown), to stderr by default, outside the
// JSON log. Here they become log lines that say which connection heard them.
void log_notice(void* arg, const PGresult* r) {
    const auto* name = static_cast<const std::string*>(arg);
    const char* severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char* message = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    log::warn("database notice")
        .str("connection", *name)
        .str("severity", severity ? severity : "")
        .str("message", message ? message : "");
}

}  // namespace

connection::connection(net::io_context& ioc, std::string conninfo, std::string application_name)
    : ioc_(ioc), conninfo_(std::move(conninfo)), application_name_(std::move(application_name)), deadline_(ioc) {}

connection::~connection() {
    teardown();
}

void connection::async_connect(std::chrono::steady_clock::duration timeout, std::function<void(bool)> done) {
    teardown();
    on_connect_ = std::move(done);
    // The conninfo (URI or key=value) is expanded from "dbname"; the keys after it
    // override it, so keepalives are always on for these long-lived sessions.
    const char* keys[] = {
        "dbname", "application_name", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
        nullptr};
    const char* values[] = {conninfo_.c_str(), application_name_.c_str(), "1", "30", "10", "3", nullptr};
    conn_.reset(PQconnectStartParams(keys, values, 1));
    if (conn_) PQsetNoticeReceiver(conn_.get(), log_notice, &application_name_);
    if (!conn_ || PQstatus(conn_.get()) == CONNECTION_BAD) {
        net::post(ioc_, [this, g = gen_] {
            if (g == gen_) finish_connect(false);
        });
        return;
    }
    deadline_.expires_after(timeout);
    deadline_.async_wait([this, g = gen_](error_code ec) {
        if (!ec && g == gen_ && !connected_) finish_connect(false);
    });
    // libpq's contract: behave as if the first poll asked to wait for writing.
    on_poll(PGRES_POLLING_WRITING);
}

void connection::on_poll(PostgresPollingStatusType poll) {
    if (poll == PGRES_POLLING_OK) {
        if (PQsetnonblocking(conn_.get(), 1) != 0 || !watch_socket()) return finish_connect(false);
        forget_write_interest();  // connecting waited for writability
        connected_ = true;
        return finish_connect(true);
    }
    if (poll == PGRES_POLLING_FAILED) return finish_connect(false);
    // The socket may change between polls (e.g. trying the next host): re-read it.
    if (!watch_socket()) return finish_connect(false);
    auto what = poll == PGRES_POLLING_READING ? net::posix::descriptor::wait_read : net::posix::descriptor::wait_write;
    sock_->async_wait(what, [this, g = gen_](error_code ec) {
        if (ec || g != gen_) return;
        on_poll(PQconnectPoll(conn_.get()));
    });
}

void connection::finish_connect(bool ok) {
    deadline_.cancel();
    auto done = std::move(on_connect_);
    on_connect_ = nullptr;
    if (done) done(ok);
}

bool connection::watch_socket() {
    int fd = PQsocket(conn_.get());
    if (fd < 0) return false;
    if (fd == sock_fd_ && sock_) return true;
    if (sock_) {
        error_code ignored;
        sock_->cancel(ignored);
        sock_->release();  // libpq owns the fd; Asio must never close it
    }
    sock_.emplace(ioc_, fd);
    sock_fd_ = fd;
    return true;
}

void connection::wait_readable(std::function<void()> ready) {
    if (!sock_) return;
    read_ready_ = std::move(ready);
    arm_read();
}

void connection::arm_read() {
    sock_->async_wait(net::posix::descriptor::wait_read, [this, g = gen_](error_code ec) {
        // Aborted: torn down, or registered anew (and armed again) by forget_write_interest.
        if (ec || g != gen_ || !read_ready_) return;
        auto ready = std::move(read_ready_);
        read_ready_ = nullptr;
        ready();
    });
}

void connection::forget_write_interest() {
    // Asio's reactor keeps EPOLLOUT registered once a write wait asked for it, and
    // every later wait re-arms all the registered events: each read wait (one per
    // NOTIFY) would wake the loop once more, for a writability nobody waits for.
    // Registering the descriptor anew drops it; pending read wait included.
    if (!sock_) return;
    error_code ignored;
    sock_->cancel(ignored);
    sock_->release();  // libpq's fd: deregistered, never closed
    sock_.emplace(ioc_, sock_fd_);
    if (read_ready_) arm_read();
}

bool connection::flush() {
    if (!conn_) return false;
    int r = PQflush(conn_.get());
    if (r < 0) return false;
    if (r == 0 || write_waiting_) return true;
    write_waiting_ = true;
    sock_->async_wait(net::posix::descriptor::wait_write, [this, g = gen_](error_code ec) {
        if (g != gen_) return;
        write_waiting_ = false;
        if (!ec) forget_write_interest();
        // A failure here shows up as a failed read on the owner's next readable.
        if (!ec) flush();
    });
    return true;
}

void connection::teardown() {
    ++gen_;
    deadline_.cancel();
    if (sock_) {
        error_code ignored;
        sock_->cancel(ignored);
        // release() before PQfinish: the fd is libpq's and is closed exactly once, by it.
        sock_->release();
        sock_.reset();
    }
    sock_fd_ = -1;
    conn_.reset();
    connected_ = false;
    write_waiting_ = false;
    read_ready_ = nullptr;
    on_connect_ = nullptr;
}

std::string connection::error() const {
    std::string msg = conn_ ? PQerrorMessage(conn_.get()) : "";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    return msg;
}

wire::server_info connection::server() const {
    PGconn* c = conn_.get();
    return {PQhost(c) ? PQhost(c) : "", PQport(c) ? PQport(c) : "", PQserverVersion(c), PQbackendPID(c)};
}

std::string connection::quote_identifier(std::string_view name) const {
    char* q = PQescapeIdentifier(conn_.get(), name.data(), name.size());
    if (!q) return {};
    std::string out(q);
    PQfreemem(q);
    return out;
}

}  // namespace gw::pg
