#pragma once
// What the hub needs from its source of events, and all it knows of it: a
// connection that LISTENs on the channels it is asked for, hands out what
// arrives as (channel, payload, received-at) batches, says which LISTENs and
// UNLISTENs took effect and when everything was lost, and runs the snapshot
// queries (one statement per route that has one, chosen by index).
// pg::listener implements it, hub::input_mux shares it among routes; the hub
// includes nothing from pg/.
//
// Thread rule: the input and its receiver share one single-threaded io_context.
// Every method but settled() is called on that thread, and every receiver call
// is made on it (never from inside listen()/unlisten()).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gw::hub {

// One NOTIFY. The views are valid only during the receiver call.
struct notification {
    std::string_view channel;
    std::string_view payload;
    std::chrono::steady_clock::time_point received;  // when it was read from the socket
};

// A LISTEN (listened = true) or UNLISTEN (false) that took effect.
struct listen_change {
    std::string channel;
    bool listened = false;
};

class event_input {
public:
    class receiver {
    public:
        virtual void on_notifications(std::span<const notification> batch) = 0;
        virtual void on_listen_changes(std::span<const listen_change> changes) = 0;
        // The connection was lost: nothing is listened any more. Every channel
        // still wanted is listened again, and reported, once it is back.
        virtual void on_down() = 0;

    protected:
        ~receiver() = default;
    };

    // ok = false: the query could not run; value: its first column, if not NULL.
    using snapshot_callback = std::function<void(bool ok, std::optional<std::string> value)>;

    virtual ~event_input() = default;

    virtual void start(receiver& r) = 0;
    // Closes the connections and stops reconnecting.
    virtual void stop() = 0;
    // Want the channel listened. True when it is listened now and stays so (no
    // UNLISTEN in flight): nothing more will be reported. False: a listen_change
    // (or on_down) follows.
    virtual bool listen(const std::string& channel) = 0;
    virtual void unlisten(const std::string& channel) = 0;
    // Connected now (on the input's thread).
    virtual bool up() const = 0;
    // Connected, and every LISTEN/UNLISTEN asked for has taken effect. Any thread.
    virtual bool settled() const = 0;

    // Runs snapshot statement number `query` (the order the input was configured
    // with) for `user`; `done` is called once, on the input's thread (perhaps from
    // inside this call, with ok = false, when it cannot run at all).
    virtual void snapshot(std::size_t query, const std::string& user, snapshot_callback done) = 0;
};

}  // namespace gw::hub
