// sse-gateway: parse the configuration, then serve until told to stop.
#include "app/server.hpp"
#include "config.hpp"
#include "log.hpp"

#include <cstdio>
#include <exception>
#include <iostream>

int main(int argc, char** argv) {
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
    return srv->run();
}
