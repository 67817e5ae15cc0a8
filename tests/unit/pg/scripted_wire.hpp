#pragma once
// A pg::wire with no server behind it: the test says what the "server" answers
// and when the socket becomes readable, and reads back what the listener sent.
// Results and notifications are real libpq structs (PQmakeEmptyPGresult needs no
// connection; a PGnotify is one malloc'd block, which PQfreemem frees).
#include "net.hpp"
#include "pg/wire.hpp"

#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace gw::pg::test {

class scripted_wire final : public wire {
public:
    // One step of an answer: a result, or the end of the command (PQgetResult's null).
    enum class step { ok, empty_query, error, end };

    explicit scripted_wire(net::io_context& ioc) : ioc_(ioc) {}

    // ---- what the test scripts
    bool connect_ok = true;
    bool read_fails = false;                                   // consume_input() says the connection broke
    std::deque<step> answer;                                   // handed out from the next readable on
    std::deque<std::pair<std::string, std::string>> notifies;  // (channel, payload)

    // The socket became readable: the pending wait_readable fires (on the loop).
    void make_readable() {
        if (!ready_) return;
        net::post(ioc_, [this, ready = std::move(ready_), g = gen_] {
            if (g == gen_) ready();
        });
        ready_ = nullptr;
    }
    bool waiting_readable() const { return static_cast<bool>(ready_); }

    // ---- what the listener did
    std::vector<std::string> sent;  // every query, in order
    int connects = 0;
    int teardowns = 0;

    // ---- pg::wire
    void async_connect(std::chrono::steady_clock::duration, std::function<void(bool)> done) override {
        ++connects;
        net::post(ioc_, [this, done = std::move(done), g = gen_] {
            if (g == gen_) done(connect_ok);
        });
    }
    void wait_readable(std::function<void()> ready) override { ready_ = std::move(ready); }
    bool flush() override { return true; }
    void teardown() override {
        ++teardowns;
        ++gen_;
        ready_ = nullptr;
        answer.clear();
    }
    std::string error() const override { return "scripted error"; }
    std::string quote_identifier(std::string_view name) const override { return '"' + std::string(name) + '"'; }
    server_info server() const override { return {"scripted", "5432", 160000, 4242}; }
    bool send_query(const std::string& sql) override {
        sent.push_back(sql);
        return true;
    }
    bool consume_input() override { return !read_fails; }
    // Nothing scripted yet: the rest of the command has not arrived.
    bool busy() const override { return answer.empty(); }
    result_ptr next_result() override {
        const step s = answer.front();
        answer.pop_front();
        switch (s) {
            case step::ok:
                return result_ptr(PQmakeEmptyPGresult(nullptr, PGRES_COMMAND_OK));
            case step::empty_query:
                return result_ptr(PQmakeEmptyPGresult(nullptr, PGRES_EMPTY_QUERY));
            case step::error:
                return result_ptr(PQmakeEmptyPGresult(nullptr, PGRES_FATAL_ERROR));
            case step::end:
                break;
        }
        return nullptr;
    }
    notify_ptr next_notify() override {
        if (notifies.empty()) return nullptr;
        auto [channel, payload] = std::move(notifies.front());
        notifies.pop_front();
        // libpq's layout: the struct, then its strings, in one block.
        auto* n = static_cast<PGnotify*>(std::malloc(sizeof(PGnotify) + channel.size() + payload.size() + 2));
        char* text = reinterpret_cast<char*>(n + 1);
        std::memcpy(text, channel.c_str(), channel.size() + 1);
        std::memcpy(text + channel.size() + 1, payload.c_str(), payload.size() + 1);
        n->relname = text;
        n->extra = text + channel.size() + 1;
        n->be_pid = 4242;
        n->next = nullptr;
        return notify_ptr(n);
    }

private:
    net::io_context& ioc_;
    std::function<void()> ready_;
    std::uint64_t gen_ = 0;  // bumped by teardown: nothing of an old connection fires
};

}  // namespace gw::pg::test
