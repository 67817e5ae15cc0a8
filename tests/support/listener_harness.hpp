#pragma once
// What the listener tests share (tests/unit/pg over a scripted wire,
// tests/integration/listener against a real PostgreSQL): a receiver that records
// what the hub would be told, and a driver for the listener's io_context, run
// from the test's own thread.
#include "hub/event_input.hpp"
#include "net.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gw::test {

class recording_receiver final : public hub::event_input::receiver {
public:
    void on_notifications(std::span<const hub::notification> batch) override {
        for (const auto& n : batch) received.emplace_back(std::string(n.channel), std::string(n.payload));
    }
    void on_listen_changes(std::span<const hub::listen_change> changes) override {
        for (const auto& c : changes) listened[c.channel] = c.listened;
        ++change_calls;
    }
    void on_down() override {
        ++downs;
        listened.clear();
    }

    std::vector<std::pair<std::string, std::string>> received;  // (channel, payload)
    std::map<std::string, bool> listened;
    int change_calls = 0;
    int downs = 0;
};

struct loop_driver {
    // Runs the loop, one handler at a time, until `done` holds (checked after
    // each) or 10 s pass.
    bool run_until(const std::function<bool()>& done) {
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!done() && std::chrono::steady_clock::now() < give_up) {
            ioc.restart();
            ioc.run_one_for(std::chrono::milliseconds(10));
        }
        return done();
    }
    // Runs the loop for `d`, whatever happens.
    void run_for(std::chrono::steady_clock::duration d) {
        ioc.restart();
        ioc.run_for(d);
    }
    // Calls f on the loop's thread (the listener's thread rule) and returns its result.
    template <class F>
    auto on_loop(F f) {
        std::optional<decltype(f())> out;
        net::post(ioc, [&] { out = f(); });
        run_until([&] { return out.has_value(); });
        return *out;
    }

    net::io_context ioc{1};
};

}  // namespace gw::test
