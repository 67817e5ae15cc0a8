#pragma once
// The hub without a database, for unit tests: two loops, the router and the
// stream registry on loop 0 (as in server.cpp), on their real io_contexts, fed by a scripted event input (the hub's own interface,
// played by the test) and read by recording subscribers. The pg::listener side
// of the interface is tested against a real PostgreSQL (tests/integration).
#include "channel_namer.hpp"
#include "hub/router.hpp"
#include "hub/loop.hpp"
#include "hub/stream_registry.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace gw::test {


// The input as the hub sees it: remembers what it was asked, answers when told.
class scripted_input final : public hub::event_input {
public:
    void start(receiver& r) override { receiver_ = &r; }
    void stop() override { stopped = true; }
    bool listen(const std::string& channel) override {
        wanted.insert(channel);
        return listened.count(channel) != 0;
    }
    void unlisten(const std::string& channel) override {
        wanted.erase(channel);
        unlistened.push_back(channel);
    }
    bool up() const override { return is_up; }
    bool settled() const override { return is_up && pending().empty(); }
    void snapshot(std::size_t query, const std::string& user, snapshot_callback done) override {
        queries.push_back(query);
        if (hold_snapshots) return held.push_back({user, std::move(done)});
        auto it = snapshots.find(user);
        done(it != snapshots.end(), it != snapshots.end() ? std::optional<std::string>(it->second) : std::nullopt);
    }


    // The test plays the database, on the router's loop (the input's thread rule).
    std::vector<std::string> pending() const {
        std::vector<std::string> out;
        for (const auto& c : wanted)
            if (!listened.count(c)) out.push_back(c);
        return out;
    }
    void confirm_all() {
        std::vector<hub::listen_change> changes;
        for (const auto& c : pending()) {
            listened.insert(c);
            changes.push_back({c, true});
        }
        on_loop([this, changes] { receiver_->on_listen_changes(changes); });
    }
    void notify(std::string channel, std::string payload) {
        on_loop([this, channel, payload] {
            hub::notification n{channel, payload, std::chrono::steady_clock::now()};
            receiver_->on_notifications({&n, 1});
        });
    }
    void lose() {
        listened.clear();
        is_up = false;
        on_loop([this] { receiver_->on_down(); });
    }
    void answer_snapshots() {
        on_loop([this] {
            auto pending = std::move(held);
            held.clear();
            for (auto& [user, done] : pending)
                done(true, snapshots.count(user) ? std::optional(snapshots[user]) : std::nullopt);
        });
    }
    // Set by the fixture: runs f on the router's loop and lets it settle.
    std::function<void(std::function<void()>)> on_loop;

    std::set<std::string> wanted, listened;
    std::vector<std::string> unlistened;
    std::map<std::string, std::string> snapshots;  // user -> value
    std::vector<std::size_t> queries;              // the snapshot statement of every query asked for
    bool is_up = true;
    bool stopped = false;
    bool hold_snapshots = false;  // queue snapshot queries until answer_snapshots()
    std::vector<std::pair<std::string, snapshot_callback>> held;

private:
    receiver* receiver_ = nullptr;
};

// A stream as the registry sees it: records what the registry does to it.
class recorder final : public hub::subscriber, public hub::closable {
public:
    recorder(hub::stream_registry& s, std::string channel, std::string user)
        : streams_(s), channel_(std::move(channel)), user_(std::move(user)) {}
    const std::string& channel() const override { return channel_; }
    const std::string& user() const override { return user_; }
    void go_live() override { ++live; }
    void caught_up(hub::catch_up_reply reply) override { replies.push_back(std::move(reply)); }
    void send(const hub::frame_ptr& frame) override {
        if (closed) return;
        frames.push_back(*frame);
        if (close_on_send) close(hub::close_reason::slow_consumer);
    }
    void close(hub::close_reason reason) override {
        if (closed) return;
        closed = reason;
        streams_.unsubscribe(*this);
    }
    void tick(std::chrono::steady_clock::time_point) override { ++ticks; }

    std::vector<std::string> frames;
    std::vector<hub::catch_up_reply> replies;
    std::optional<hub::close_reason> closed;
    int live = 0;
    int ticks = 0;
    bool close_on_send = false;

private:
    hub::stream_registry& streams_;
    std::string channel_, user_;
};

// Whether the fixture's route has a snapshot statement (statement 0 unless the settings name another).
enum class snapshot_statement { configured, none };

// Two loops, the router and the registry on loop 0, all driven from the test thread.
struct hub_fixture {
    explicit hub_fixture(hub::router::settings rs = {}, snapshot_statement sn = snapshot_statement::configured) {
        rs.wrap_field = "status";  // a payload that is not a JSON object is wrapped in {"status": ...}
        if (sn == snapshot_statement::configured)
            rs.snapshot_query = rs.snapshot_query.value_or(0);
        else
            rs.snapshot_query.reset();
        for (unsigned i = 0; i < 2; ++i) loops.push_back(std::make_unique<hub::loop>(i));
        streams = std::make_unique<hub::stream_registry>(*loops[0]);
        router = std::make_unique<hub::router>(loops[0]->context(), input, std::move(rs), namer, *streams);
        streams->attach(*router);
        input.on_loop = [this](std::function<void()> f) { on(std::move(f)); };
        router->start();
        run();
    }
    // Runs every ready handler on both loops until none is left.
    void run() {
        for (int quiet = 0; quiet < 2;) {
            std::size_t n = 0;
            for (auto& l : loops) {
                l->context().restart();
                n += l->context().poll();
            }
            quiet = n == 0 ? quiet + 1 : 0;
        }
    }
    // Calls f on loop 0's thread (the registry's and the router's).
    template <class F>
    void on(F f) {
        net::post(loops[0]->context(), std::move(f));
        run();
    }
    std::shared_ptr<recorder> stream(const std::string& channel, const std::string& user = "1") {
        auto r = std::make_shared<recorder>(*streams, channel, user);
        on([&] {
            loops[0]->track(r);
            streams->subscribe(r);
        });
        return r;
    }
    // Asks how the stream catches up, as a stream does once live (its caught_up() records the answer).
    void catch_up(const std::shared_ptr<recorder>& r, std::optional<std::uint64_t> last_seq = std::nullopt) {
        on([&] { streams->catch_up(r, last_seq); });
    }

    channel_namer namer{"user_{user}", "^[0-9]{1,20}$"};
    scripted_input input;
    std::vector<std::unique_ptr<hub::loop>> loops;
    std::unique_ptr<hub::stream_registry> streams;
    std::unique_ptr<hub::router> router;
};

}  // namespace gw::test
