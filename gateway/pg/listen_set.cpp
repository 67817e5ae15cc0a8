#include "pg/listen_set.hpp"

#include <cassert>

namespace gw::pg {

void listen_set::enqueue(const std::string& channel, entry& e) {
    if (e.queued) return;
    e.queued = true;
    queue_.push_back(channel);
}

void listen_set::forget_if_idle(std::unordered_map<std::string, entry>::iterator it) {
    const entry& e = it->second;
    if (!wanted(e) && !e.listened && !e.busy && !e.queued) entries_.erase(it);
}

std::vector<listen_set::announcement> listen_set::add(const std::string& channel, const std::string& user,
                                                      unsigned shard, std::uint64_t seq, std::uint64_t seq_now) {
    assert(shard < max_shards);
    entry& e = entries_[channel];
    e.record.user = user;
    e.shards |= std::uint64_t{1} << shard;
    std::erase_if(e.interests, [&](const interest& i) { return i.shard == shard; });
    if (is_virtual(e)) {
        // Carried by the bearer: listened exactly while the bearer is.
        auto b = entries_.find(bearer_);
        const bool carried = b != entries_.end() && b->second.listened && !b->second.busy;
        if (carried && !e.listened) {
            e.listened = true;
            e.record.replay.restart(seq_now);
        }
        e.interests.push_back({shard, seq, carried});
        if (carried) return {{shard, seq, channel}};
        return {};
    }
    // Listened and not being unlistened: the shard may go live at once.
    const bool now = e.listened && !e.busy;
    e.interests.push_back({shard, seq, now});
    if (now) return {{shard, seq, channel}};
    enqueue(channel, e);
    return {};
}

void listen_set::remove(const std::string& channel, unsigned shard) {
    auto it = entries_.find(channel);
    if (it == entries_.end()) return;
    entry& e = it->second;
    e.shards &= ~(std::uint64_t{1} << shard);
    std::erase_if(e.interests, [&](const interest& i) { return i.shard == shard; });
    if (wanted(e)) return;
    if (is_virtual(e))
        entries_.erase(it);
    else
        enqueue(channel, e);
}

void listen_set::pin(const std::string& channel) {
    entry& e = entries_[channel];
    e.pinned = true;
    enqueue(channel, e);
}

void listen_set::carry_on(const std::string& bearer) {
    bearer_ = bearer;
    pin(bearer);
}

void listen_set::carry_virtual(std::uint64_t seq_now, confirmation& out) {
    for (auto& [channel, e] : entries_) {
        if (!is_virtual(e)) continue;
        if (!e.listened) {
            e.listened = true;
            e.record.replay.restart(seq_now);
            if (e.record.needs_catch_up) out.catch_up.push_back(channel);
            e.record.needs_catch_up = false;
        }
        for (auto& i : e.interests) {
            if (i.announced) continue;
            i.announced = true;
            out.announce.push_back({i.shard, i.seq, channel});
        }
    }
}

std::vector<listen_set::op> listen_set::take_batch(std::size_t max_ops) {
    std::vector<op> batch;
    if (!in_flight_.empty()) return batch;
    std::size_t used = 0;
    for (; used < queue_.size() && batch.size() < max_ops; ++used) {
        auto it = entries_.find(queue_[used]);
        if (it == entries_.end()) continue;
        entry& e = it->second;
        e.queued = false;
        const bool want = wanted(e);
        if (want != e.listened) {
            e.busy = true;
            batch.push_back({it->first, want});
        } else {
            forget_if_idle(it);
        }
    }
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(used));
    in_flight_ = batch;
    return batch;
}

listen_set::confirmation listen_set::confirm(std::uint64_t seq_now) {
    confirmation out;
    for (const auto& o : in_flight_) {
        auto it = entries_.find(o.channel);
        if (it == entries_.end()) continue;
        entry& e = it->second;
        e.busy = false;
        if (e.listened != o.listen) {
            e.listened = o.listen;
            if (o.listen) {
                ++listened_count_;
                e.record.replay.restart(seq_now);
                if (e.record.needs_catch_up) out.catch_up.push_back(it->first);
                e.record.needs_catch_up = false;
            } else {
                --listened_count_;
            }
        }
        if (e.listened) {
            for (auto& i : e.interests) {
                if (i.announced) continue;
                i.announced = true;
                out.announce.push_back({i.shard, i.seq, it->first});
            }
        }
        if (e.listened && o.listen && it->first == bearer_) carry_virtual(seq_now, out);
        // Interest changed while the statement was in flight: go round again.
        if (wanted(e) != e.listened)
            enqueue(it->first, e);
        else
            forget_if_idle(it);
    }
    in_flight_.clear();
    return out;
}

void listen_set::reset() {
    in_flight_.clear();
    listened_count_ = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
        entry& e = it->second;
        e.busy = false;
        if (e.listened && !e.pinned) e.record.needs_catch_up = true;
        e.listened = false;
        e.record.replay.restart(0);
        for (auto& i : e.interests) i.announced = false;
        if (!wanted(e)) {
            it = entries_.erase(it);
            continue;
        }
        ++it;
    }
    // Every wanted channel must be listened again; queue_ is rebuilt from scratch.
    queue_.clear();
    for (auto& [channel, e] : entries_) {
        e.queued = false;
        if (!is_virtual(e)) enqueue(channel, e);
    }
}

channel_record* listen_set::record(const std::string& channel) {
    auto it = entries_.find(channel);
    return it == entries_.end() ? nullptr : &it->second.record;
}

std::uint64_t listen_set::listeners(const std::string& channel) const {
    auto it = entries_.find(channel);
    if (it == entries_.end() || !it->second.listened) return 0;
    return it->second.shards;
}

listen_set::route listen_set::find_route(const std::string& channel) {
    auto it = entries_.find(channel);
    if (it == entries_.end()) return {};
    return {&it->second.record, it->second.listened ? it->second.shards : 0};
}

bool listen_set::settled() const {
    return in_flight_.empty() && queue_.empty();
}

}  // namespace gw::pg
