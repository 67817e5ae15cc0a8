#pragma once
// The process: N loop threads (loop 0's also runs the hub's router, the
// PostgreSQL listener that feeds it and every stream), and the main thread,
// which accepts connections (handing each socket to a loop in turn), handles signals
// and runs the shutdown: not ready -> stop accepting -> close streams spread
// over the drain period -> stop the listener -> stop the loops.
//
// Thread rule: construct and run() on the main thread; everything else is posted.
#include "config.hpp"
#include "http/shared_state.hpp"
#include "hub/input_mux.hpp"
#include "hub/loop.hpp"
#include "hub/router.hpp"
#include "hub/stream_registry.hpp"
#include "net.hpp"
#include "pg/listener.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace gw::app {

// The exit code when an exception escapes a handler on any loop (EX_SOFTWARE):
// the process ends after an "event loop failed" log line naming the loop.
inline constexpr int loop_failed_exit_code = 70;

class server {
public:
    // Throws config_error / std::invalid_argument for unusable configuration and
    // boost::system::system_error when the address cannot be bound.
    explicit server(config cfg);
    ~server();

    // Serves until SIGTERM/SIGINT and the drain are done; returns the exit code.
    int run();

private:
    void do_accept();
    void do_accept_ops();  // --ops-listen's: /healthz, /readyz and /metrics only
    void on_accept(error_code ec, tcp::socket socket);
    void begin_shutdown(int signal);
    void watch_drain();
    void finish_shutdown();
    std::string render_metrics() const;

    config cfg_;
    net::io_context main_ioc_{1};
    // Declared before the loops: their pending handlers may still reference these.
    web::shared_state state_;
    std::vector<std::unique_ptr<hub::loop>> loops_;
    // Declared after the loops, so destroyed first: their timers and sockets live
    // on loop 0's io_context, which must outlive them. The one LISTEN connection
    // and query pool (the listener) reach every route's router through the mux,
    // one port each; per route (state_.routes' order): its stream registry and its
    // router, which uses its port and the registry.
    struct route_hub {
        std::unique_ptr<hub::stream_registry> streams;
        std::unique_ptr<hub::router> router;
    };
    std::unique_ptr<pg::listener> listener_;
    std::unique_ptr<hub::input_mux> mux_;
    std::vector<route_hub> hubs_;

    tcp::acceptor acceptor_;
    tcp::acceptor ops_acceptor_;  // open only with --ops-listen
    net::steady_timer ops_accept_retry_;
    net::signal_set signals_;
    net::steady_timer accept_retry_;
    net::steady_timer drain_timer_;
    std::chrono::steady_clock::time_point drain_deadline_{};
    bool hard_closed_ = false;
    std::size_t next_loop_ = 0;
    std::vector<std::optional<net::executor_work_guard<net::io_context::executor_type>>> guards_;
    std::vector<std::thread> threads_;
};

}  // namespace gw::app
