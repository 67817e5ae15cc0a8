#pragma once
// The LISTEN bookkeeping of one connection, free of I/O: which channels are
// wanted, which the connection actually listens on, and the batch of
// LISTEN/UNLISTEN statements to send next. One batch is in flight at a time.
//
// Thread rule: call only from the listener's thread.
#include "hub/event_input.hpp"

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

namespace gw::pg {

class listen_state {
public:
    struct op {
        std::string channel;
        bool listen;  // false: UNLISTEN
    };

    // Want the channel listened. True when it is listened and no UNLISTEN is in
    // flight: nothing changes and nothing will be reported for it.
    bool want(const std::string& channel);
    // No longer want it.
    void drop(const std::string& channel);

    // The statements to send now (at most max_ops), marked in flight; empty while a
    // batch is already in flight or nothing differs.
    std::vector<op> take_batch(std::size_t max_ops);
    // The batch in flight succeeded: apply it and say what changed.
    std::vector<hub::listen_change> confirm();
    // The connection was lost: nothing is listened any more, nothing is in flight,
    // and every wanted channel is queued to be listened again.
    void reset();

    bool in_flight() const { return !in_flight_.empty(); }
    bool settled() const { return in_flight_.empty() && queue_.empty(); }  // nothing to send, nothing in flight
    std::size_t listened_count() const { return listened_count_; }
    bool listened(const std::string& channel) const;

private:
    struct entry {
        bool wanted = false;
        bool listened = false;
        bool busy = false;    // part of the batch in flight
        bool queued = false;  // named in queue_
    };
    using iterator = std::unordered_map<std::string, entry>::iterator;

    void enqueue(const std::string& channel, entry& e);
    void forget_if_idle(iterator it);

    std::unordered_map<std::string, entry> entries_;
    std::vector<std::string> queue_;  // channels whose wanted state may differ from the listened one
    std::vector<op> in_flight_;
    std::size_t listened_count_ = 0;
};

}  // namespace gw::pg
