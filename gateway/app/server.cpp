#include "app/server.hpp"

#include "app/metrics_page.hpp"
#include "http/http_session.hpp"
#include "log.hpp"
#include "payload_rule.hpp"

#include <csignal>
#include <cstdlib>

namespace gw::app {

namespace {

// Accept errors such as EMFILE would spin the loop; wait before trying again.
constexpr auto accept_backoff = std::chrono::milliseconds(100);
// After the drain period, how long stragglers get before they are cut.
constexpr auto drain_grace = std::chrono::seconds(2);
constexpr auto drain_poll = std::chrono::milliseconds(25);

void open_acceptor(tcp::acceptor& acceptor, const std::string& host, std::uint16_t port) {
    tcp::endpoint ep(net::ip::make_address(host), port);
    acceptor.open(ep.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(net::socket_base::max_listen_connections);
}

// Runs one loop. Handlers throw nothing by design (STYLE 7); one that does
// anyway leaves the process half dead, so it is said, with the loop's name, and
// the process ends at once with loop_failed_exit_code for the orchestrator to
// restart it (a plain exit would run destructors under the other loops' feet).
void run_loop(net::io_context& ioc, const std::string& name) {
    try {
        ioc.run();
        return;
    } catch (const std::exception& e) {
        log::error("event loop failed").str("loop", name).str("error", e.what());
    } catch (...) {
        log::error("event loop failed").str("loop", name).str("error", "unknown exception");
    }
    std::_Exit(loop_failed_exit_code);
}

}  // namespace

server::server(config cfg)
    : cfg_(std::move(cfg)),
      state_(cfg_),
      acceptor_(main_ioc_),
      ops_acceptor_(main_ioc_),
      ops_accept_retry_(main_ioc_),
      signals_(main_ioc_, SIGINT, SIGTERM),
      accept_retry_(main_ioc_),
      drain_timer_(main_ioc_) {
    for (unsigned i = 0; i < cfg_.threads; ++i) loops_.push_back(std::make_unique<hub::loop>(i));
    // Every route's router and streams, the mux and the listener live on loop 0:
    // an event needs no thread hop at all (see do_accept()). One LISTEN
    // connection and one query pool serve every route; a channel two routes want
    // is LISTENed once (the mux).
    pg::listener::settings ls;
    ls.conninfo = cfg_.database_url;
    ls.snapshot_pool = cfg_.snapshot_pool;
    ls.snapshot_timeout = cfg_.snapshot_timeout;
    ls.ping_interval = cfg_.db_ping;
    ls.queue_usage_interval = cfg_.queue_usage_interval;
    std::vector<hub::router::settings> settings;
    for (auto& route : state_.routes) {
        const auto& r = route->cfg;
        hub::router::settings rs;
        rs.event_name = r.event_name;
        rs.wrap_field = r.wrap_field;
        rs.replay_size = r.replay_size;
        rs.replay_age = r.replay_age;
        // A Turbo route's channel is the verified name: never the shared channel's user.
        rs.mode = route->turbo() ? channel_mode::per_user : cfg_.channel_mode;
        rs.shared_channel = cfg_.shared_channel;
        rs.shared_user_field = cfg_.shared_user_field;
        rs.broadcast_channel = r.broadcast_channel;
        rs.payload = r.payload;
        if (!r.snapshot_sql.empty()) {
            rs.snapshot_query = ls.snapshot_sqls.size();
            ls.snapshot_sqls.push_back(r.snapshot_sql);
        }
        settings.push_back(std::move(rs));
    }
    listener_ = std::make_unique<pg::listener>(loops_[0]->context(), std::move(ls));
    mux_ = std::make_unique<hub::input_mux>(loops_[0]->context(), *listener_);
    for (std::size_t i = 0; i < state_.routes.size(); ++i) {
        auto& route = *state_.routes[i];
        route_hub h;
        h.streams = std::make_unique<hub::stream_registry>(*loops_[0]);
        h.router = std::make_unique<hub::router>(loops_[0]->context(), mux_->add_port(), std::move(settings[i]),
                                                 route.namer, *h.streams);
        h.streams->attach(*h.router);
        route.streams = h.streams.get();
        route.boot_id = h.router->boot_id();
        hubs_.push_back(std::move(h));
    }

    state_.ready = [this] {
        for (const auto& h : hubs_)
            if (!h.router->ready()) return false;
        return true;
    };
    state_.metrics_text = [this] { return render_metrics(); };

    open_acceptor(acceptor_, cfg_.listen_host, cfg_.listen_port);
    if (!cfg_.ops_listen_host.empty()) open_acceptor(ops_acceptor_, cfg_.ops_listen_host, cfg_.ops_listen_port);
}

server::~server() {
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

int server::run() {
    // Before "listening", so whoever waits for that line finds the ops port too.
    if (ops_acceptor_.is_open()) {
        auto ops = ops_acceptor_.local_endpoint();
        log::info("ops listening")
            .str("address", ops.address().to_string())
            .num("port", static_cast<std::int64_t>(ops.port()));
    }
    auto local = acceptor_.local_endpoint();
    log::info("listening")
        .str("address", local.address().to_string())
        .num("port", static_cast<std::int64_t>(local.port()))
        .num("threads", static_cast<std::int64_t>(cfg_.threads))
        .num("routes", static_cast<std::int64_t>(state_.routes.size()))
        // The first route's, as before there were several (scripts read them).
        .str("stream_path", state_.routes.front()->cfg.path)
        .str("channel_template", state_.routes.front()->cfg.channel_template)
        .str("boot_id", state_.routes.front()->boot_id);
    for (const auto& route : state_.routes) {
        const auto& r = route->cfg;
        log::info("route")
            .str("route", r.path)
            .str("key", r.key == route_key::user ? "user" : "turbo-signed-stream")
            .str("channel_template", r.channel_template)
            .str("boot_id", route->boot_id);
    }
    if (cfg_.proxy_secret.empty() && cfg_.proxy_secret_file.empty() && cfg_.allow_insecure_proxy_header)
        log::warn("proxy-header mode trusts the user header without a secret: development only");

    for (auto& l : loops_) guards_.emplace_back(net::make_work_guard(l->context()));
    for (std::size_t i = 0; i < loops_.size(); ++i)
        threads_.emplace_back(
            [&ioc = loops_[i]->context(), name = "loop " + std::to_string(i)] { run_loop(ioc, name); });

    for (auto& h : hubs_) h.router->start();
    signals_.async_wait([this](error_code ec, int sig) {
        if (!ec) begin_shutdown(sig);
    });
    // SIGHUP reloads the credential files from here on; a JWKS URL is fetched.
    state_.auth.start();
    do_accept();
    if (ops_acceptor_.is_open()) do_accept_ops();
    run_loop(main_ioc_, "main");

    for (auto& t : threads_) t.join();
    threads_.clear();
    log::info("stopped");
    return 0;
}

void server::do_accept() {
    // Where things run. Every event stream lives on loop 0, the loop of the
    // LISTEN connection and the router: an event then goes from the socket it
    // arrived on to the stream's socket on one thread, with no wake-up of another.
    // Measured on 2 cores (BENCHMARKS.md), that hop, half the events' lot when
    // streams were spread over the loops, cost ~0.09 ms at the median, more than
    // the gateway's own work. The other loops take the connections: parse,
    // authenticate, answer probes, /metrics and refusals, then hand the socket of
    // an accepted stream to loop 0. The price: a broadcast fans out on one loop.
    const std::size_t first = loops_.size() > 1 ? 1 : 0;
    if (next_loop_ < first) next_loop_ = first;
    auto& target = *loops_[next_loop_];
    next_loop_ = next_loop_ + 1 < loops_.size() ? next_loop_ + 1 : first;
    acceptor_.async_accept(target.context(), [this, &target](error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
        if (ec) {
            log::warn("accept failed").str("error", ec.message());
            accept_retry_.expires_after(accept_backoff);
            return accept_retry_.async_wait([this](error_code e) {
                if (!e && acceptor_.is_open()) do_accept();
            });
        }
        // Events are small and written as they come (frames queued meanwhile go
        // out together): waiting for the client's ACK (Nagle) would only delay them.
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        web::connection_slot slot(state_.connections);
        const auto open = static_cast<std::uint64_t>(state_.connections.value());
        // Past the limit, a small reserve still reaches the probes and /metrics: a
        // full gateway must not fail its liveness probe and be restarted, dropping
        // every stream. Past the reserve too, the 503 goes out without a read.
        const auto admit = open <= cfg_.max_connections                            ? web::admission::open
                           : open <= cfg_.max_connections + ops_connection_reserve ? web::admission::ops_only
                                                                                   : web::admission::refused;
        const auto role = ops_acceptor_.is_open() ? web::listener_role::public_only : web::listener_role::combined;
        net::post(target.context(), [this, &target, socket = std::move(socket), slot = std::move(slot), admit,
                                     role]() mutable {
            std::make_shared<web::http_session>(std::move(socket), target, state_, std::move(slot), admit, role)->run();
        });
        do_accept();
    });
}

void server::do_accept_ops() {
    // The last loop: with several, not the one every stream and event lives on.
    auto& target = *loops_.back();
    ops_acceptor_.async_accept(target.context(), [this, &target](error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !ops_acceptor_.is_open()) return;
        if (ec) {
            log::warn("accept failed").str("listener", "ops").str("error", ec.message());
            ops_accept_retry_.expires_after(accept_backoff);
            return ops_accept_retry_.async_wait([this](error_code e) {
                if (!e && ops_acceptor_.is_open()) do_accept_ops();
            });
        }
        // Counted apart from the public connections, so a full public listener
        // leaves the probes and the scrape their own room (the reserve).
        web::connection_slot slot(state_.ops_connections);
        const auto admit = static_cast<std::uint64_t>(state_.ops_connections.value()) <= ops_connection_reserve
                               ? web::admission::open
                               : web::admission::refused;
        net::post(target.context(),
                  [this, &target, socket = std::move(socket), slot = std::move(slot), admit]() mutable {
                      std::make_shared<web::http_session>(std::move(socket), target, state_, std::move(slot), admit,
                                                          web::listener_role::ops)
                          ->run();
                  });
        do_accept_ops();
    });
}

void server::begin_shutdown(int signal) {
    log::info("shutdown started")
        .num("signal", static_cast<std::int64_t>(signal))
        .num("drain_seconds", static_cast<std::int64_t>(cfg_.drain.count()))
        .num("connections", state_.connections.value());
    state_.draining.store(true);
    error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
    for (auto& l : loops_) l->post_drain(cfg_.drain);
    drain_deadline_ = std::chrono::steady_clock::now() + cfg_.drain;
    watch_drain();
}

void server::watch_drain() {
    if (state_.connections.value() == 0) return finish_shutdown();
    auto now = std::chrono::steady_clock::now();
    if (!hard_closed_ && now >= drain_deadline_) {
        hard_closed_ = true;
        for (auto& l : loops_) l->post_close_all();
    }
    if (now >= drain_deadline_ + drain_grace) {
        log::warn("drain deadline passed").num("connections", state_.connections.value());
        return finish_shutdown();
    }
    drain_timer_.expires_after(drain_poll);
    drain_timer_.async_wait([this](error_code ec) {
        if (!ec) watch_drain();
    });
}

void server::finish_shutdown() {
    signals_.cancel();
    // Open until now, so the probes watch the drain (/readyz says 503).
    error_code ignored;
    ops_acceptor_.close(ignored);
    ops_accept_retry_.cancel();
    for (auto& h : hubs_) h.router->stop();
    for (auto& g : guards_) g.reset();
    // Every connection is closed; what remains on the loops are drain timers of
    // streams already gone, so stopping them loses nothing. Posted behind the
    // router's stop (and so the listener's) on loop 0, so that runs first.
    net::post(loops_[0]->context(), [this] {
        for (auto& l : loops_) l->context().stop();
    });
}

std::string server::render_metrics() const {
    std::vector<route_metrics> routes;
    for (std::size_t i = 0; i < hubs_.size(); ++i)
        routes.push_back({state_.routes[i]->cfg.path, *hubs_[i].router, *hubs_[i].streams});
    return metrics_page(cfg_, state_, routes, *listener_);
}

}  // namespace gw::app
