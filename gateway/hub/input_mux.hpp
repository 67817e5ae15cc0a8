#pragma once
// One event input shared by several routes: the one LISTEN connection and query
// pool (pg::listener) serve N routers, each through its own port, an
// event_input of its own. A channel two routes want is LISTENed once. The mux
// owns neither the real input nor the routers; it is the real input's receiver.
//
// The contract each port keeps toward its router is event_input's (see
// event_input.hpp), as if the router had the connection to itself:
//   - listen(ch) is true only when the channel is listened and stays so with no
//     report pending for this port; false means a listen_change (or on_down)
//     for ch follows on this port.
//   - after unlisten(ch), the port hears {ch, false} once the channel is no
//     longer listened for it (the router keeps the channel's record until then),
//     unless an on_down comes first.
//   - notifications reach a port only for the channels it wants; on_down reaches
//     every started port.
// How: per channel, the ports that want it, the ports that still owe their
// router a {ch, false} ("leaving"), and whether the real input listens on it
// stably (its listen() said true, or it reported the LISTEN while wanted, and
// no UNLISTEN was asked since). The first port to want a channel asks the real
// input; the last to give it up makes the real input UNLISTEN, and its {ch,
// false} is the real one. A port that gives up a channel others keep gets a
// {ch, false} of its own, posted (a receiver is never called from inside
// listen()/unlisten()); so does every leaving port whose real report will not
// come (the real input cancelled the UNLISTEN, or the LISTEN it drops was
// never confirmed). When the real input reports the LISTEN while the channel is
// wanted, a leaving port hears {ch, false} then, before any {ch, true}.
// With one port, notifications pass through untouched: no copy, no lookup.
//
// start(): the real input starts with the first port started; stop(): it stops
// with the last. up()/settled() are the real input's; snapshot() runs the real
// input's statement of the index the router gives.
//
// Thread rule: the real input's: every call on its io_context's thread. Create
// every port before any starts.
#include "hub/event_input.hpp"
#include "net.hpp"
#include "string_hash.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gw::hub {

class input_mux final : public event_input::receiver {
public:
    // `real` runs on `ioc` and outlives the mux.
    input_mux(net::io_context& ioc, event_input& real);
    ~input_mux();
    input_mux(const input_mux&) = delete;
    input_mux& operator=(const input_mux&) = delete;

    // A new route's input, valid as long as the mux. Throws std::logic_error once
    // a port has started.
    event_input& add_port();
    std::size_t ports() const { return ports_.size(); }

    // event_input::receiver (the real input's)
    void on_notifications(std::span<const notification> batch) override;
    void on_listen_changes(std::span<const listen_change> changes) override;
    void on_down() override;

private:
    class port;
    // Per port, in a channel's flags.
    static constexpr std::uint8_t wants = 1;
    static constexpr std::uint8_t leaving = 2;
    struct channel {
        std::vector<std::uint8_t> flags;  // by port index
        std::size_t wanters = 0;
        bool stable = false;  // the real input listens and no UNLISTEN was asked since
    };
    using channel_map = std::unordered_map<std::string, channel, string_hash, std::equal_to<>>;

    // The port methods.
    void start(port& p, receiver& r);
    void stop(port& p);
    bool listen(std::size_t p, const std::string& name);
    void unlisten(std::size_t p, const std::string& name);
    // Posts the {name, false} port `p` owes its router, delivered if still owed.
    void post_unlisten(std::size_t p, const std::string& name);
    void deliver_unlisten(std::size_t p, const std::string& name);
    void forget_if_idle(channel_map::iterator it);
    receiver* receiver_of(std::size_t p) const;

    net::io_context& ioc_;
    event_input& real_;
    std::vector<std::unique_ptr<port>> ports_;
    channel_map channels_;
    bool real_started_ = false;
    std::size_t running_ = 0;  // ports started and not stopped
    // Per port, reused across calls: the sub-batches handed out.
    std::vector<std::vector<notification>> notes_;
    std::vector<std::vector<listen_change>> changes_;
};

}  // namespace gw::hub
