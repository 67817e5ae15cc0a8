#include "hub/channel_table.hpp"

namespace gw::hub {

bool channel_table::add(const std::string& channel, const std::string& user, std::uint64_t seq) {
    entry& e = entries_[channel];
    e.record.user = user;
    e.streams = true;
    e.seq = seq;
    e.announced = false;
    return !is_carried(e);
}

bool channel_table::remove(const std::string& channel) {
    auto it = entries_.find(channel);
    if (it == entries_.end()) return false;
    entry& e = it->second;
    e.streams = false;
    e.announced = false;
    if (wanted(e)) return false;
    if (is_carried(e)) {
        entries_.erase(it);  // nothing to unlisten: the bearer carries it
        return false;
    }
    return true;  // kept until the UNLISTEN took effect
}

void channel_table::pin(const std::string& channel) {
    entries_[channel].pinned = true;
}

void channel_table::carry_on(const std::string& bearer) {
    bearer_ = bearer;
    pin(bearer);
}

bool channel_table::bearer_listened() const {
    auto b = entries_.find(bearer_);
    return b != entries_.end() && b->second.listened;
}

void channel_table::mark_listened(const std::string& channel, entry& e, std::uint64_t seq_now, update& out) {
    if (!e.listened) {
        e.listened = true;
        ++e.record.listen_gen;
        e.record.replay.restart(seq_now);
        // The router clears needs_catch_up when it takes the catch-up on.
        if (e.record.needs_catch_up || !e.record.waiters.empty()) out.catch_up.push_back(channel);
    }
    if (e.streams && !e.announced) {
        e.announced = true;
        out.announce.push_back({e.seq, channel});
    }
}

channel_table::update channel_table::listened(const std::string& channel, std::uint64_t seq_now) {
    update out;
    auto it = entries_.find(channel);
    if (it == entries_.end()) return out;
    mark_listened(channel, it->second, seq_now, out);
    if (channel == bearer_)
        for (auto& [name, e] : entries_)
            if (is_carried(e)) mark_listened(name, e, seq_now, out);
    return out;
}

channel_table::update channel_table::carried(const std::string& channel, std::uint64_t seq_now) {
    update out;
    auto it = entries_.find(channel);
    if (it != entries_.end() && is_carried(it->second) && bearer_listened())
        mark_listened(channel, it->second, seq_now, out);
    return out;
}

void channel_table::unlistened(const std::string& channel) {
    auto it = entries_.find(channel);
    if (it == entries_.end()) return;
    entry& e = it->second;
    e.listened = false;
    // The announced interest was removed before the UNLISTEN was asked for; a
    // newer one is announced when the channel is listened again.
    if (!wanted(e)) entries_.erase(it);
}

void channel_table::down() {
    for (auto it = entries_.begin(); it != entries_.end();) {
        entry& e = it->second;
        if (e.listened && !e.pinned) e.record.needs_catch_up = true;
        e.listened = false;
        e.record.replay.restart(0);
        e.announced = false;
        if (!wanted(e))
            it = entries_.erase(it);
        else
            ++it;
    }
}

channel_record* channel_table::record(const std::string& channel) {
    auto it = entries_.find(channel);
    return it == entries_.end() ? nullptr : &it->second.record;
}

bool channel_table::is_listened(const std::string& channel) const {
    auto it = entries_.find(channel);
    return it != entries_.end() && it->second.listened;
}

channel_table::route channel_table::find_route(std::string_view channel) {
    auto it = entries_.find(channel);
    if (it == entries_.end()) return {};
    return {&it->second.record, it->second.listened && it->second.streams};
}

}  // namespace gw::hub
