// sse-gateway: parse the configuration, then serve until told to stop.
#include "app/server.hpp"
#include "config.hpp"
#include "log.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {

// Every stream is a socket: take the whole hard open-file limit the system allows
// rather than the usual soft 1024. Returns the limit in force.
rlim_t raise_open_file_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
        getrlimit(RLIMIT_NOFILE, &lim);
    }
    return lim.rlim_cur;
}

}  // namespace

int main(int argc, char** argv) {
    // One malloc arena for every thread. Connections are parsed and authenticated
    // on the accepting loops and their streams live on the home loop (server.cpp):
    // with glibc's per-thread arenas, what a connect burst's HTTP sessions freed
    // stayed with the accepting loops' arenas while the streams grew the home
    // loop's, 0.12 KiB more per idle stream (BENCHMARKS.md). Small blocks still
    // come from each thread's cache, so the event path takes no lock for them.
    mallopt(M_ARENA_MAX, 1);
    // SIGHUP reloads the credentials once the server runs (auth_chain::start); until
    // then its default action, ending the process, must not apply. The files are
    // read at start-up anyway, so nothing is missed.
    std::signal(SIGHUP, SIG_IGN);
    gw::config cfg;
    try {
        auto parsed = gw::parse_config(argc, argv, gw::process_env());
        if (parsed.help) {
            std::cout << gw::usage_text();
            return 0;
        }
        cfg = std::move(parsed.cfg);
    } catch (const std::exception& e) {
        std::cerr << "sse-gateway: " << e.what() << "\n";
        return 2;
    }
    gw::log::set_level(cfg.level);
    std::vector<std::string> env_names;
    for (char** e = environ; *e; ++e) env_names.emplace_back(*e, std::strcspn(*e, "="));
    for (const auto& name : gw::unknown_env_names(env_names))
        gw::log::warn("unknown SSE_GATEWAY_ variable ignored").str("name", name);
    const auto budget = gw::connection_budget_for(cfg, raise_open_file_limit());
    const bool derived = cfg.max_connections == 0;
    if (derived) cfg.max_connections = budget.default_max_connections();
    const auto max_connections = cfg.max_connections;

    std::unique_ptr<gw::app::server> srv;
    try {
        srv = std::make_unique<gw::app::server>(std::move(cfg));
    } catch (const boost::system::system_error& e) {
        std::cerr << "sse-gateway: cannot listen: " << e.code().message() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "sse-gateway: " << e.what() << "\n";
        return 2;
    }
    // Said once the configuration is known to be usable: a refused start says
    // only why it was refused.
    // Past `allowed`, accept() fails with EMFILE before the 503 can answer.
    if (max_connections > budget.allowed)
        gw::log::warn(derived ? "open-file limit leaves no room for connections"
                              : "open-file limit is below --max-connections")
            .num("open_file_limit", static_cast<std::int64_t>(budget.open_file_limit))
            .num("reserved_fds", static_cast<std::int64_t>(budget.reserved))
            .num("max_connections", static_cast<std::int64_t>(max_connections));
    else
        gw::log::info("connection limit")
            .num("max_connections", static_cast<std::int64_t>(max_connections))
            .str("from", derived ? "open-file limit" : "--max-connections")
            .num("open_file_limit", static_cast<std::int64_t>(budget.open_file_limit))
            .num("reserved_fds", static_cast<std::int64_t>(budget.reserved));
    return srv->run();
}
