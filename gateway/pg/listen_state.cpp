#include "pg/listen_state.hpp"

namespace gw::pg {

void listen_state::enqueue(const std::string& channel, entry& e) {
    if (e.queued) return;
    e.queued = true;
    queue_.push_back(channel);
}

void listen_state::forget_if_idle(iterator it) {
    const entry& e = it->second;
    if (!e.wanted && !e.listened && !e.busy && !e.queued) entries_.erase(it);
}

bool listen_state::want(const std::string& channel) {
    entry& e = entries_[channel];
    e.wanted = true;
    if (e.listened && !e.busy) return true;
    enqueue(channel, e);
    return false;
}

void listen_state::drop(const std::string& channel) {
    auto it = entries_.find(channel);
    if (it == entries_.end()) return;
    it->second.wanted = false;
    enqueue(channel, it->second);
}

std::vector<listen_state::op> listen_state::take_batch(std::size_t max_ops) {
    std::vector<op> batch;
    if (!in_flight_.empty()) return batch;
    std::size_t used = 0;
    for (; used < queue_.size() && batch.size() < max_ops; ++used) {
        auto it = entries_.find(queue_[used]);
        if (it == entries_.end()) continue;
        entry& e = it->second;
        e.queued = false;
        if (e.wanted != e.listened) {
            e.busy = true;
            batch.push_back({it->first, e.wanted});
        } else {
            forget_if_idle(it);
        }
    }
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(used));
    in_flight_ = batch;
    return batch;
}

std::vector<hub::listen_change> listen_state::confirm() {
    std::vector<hub::listen_change> out;
    for (const auto& o : in_flight_) {
        auto it = entries_.find(o.channel);
        if (it == entries_.end()) continue;
        entry& e = it->second;
        e.busy = false;
        if (e.listened != o.listen) {
            e.listened = o.listen;
            o.listen ? ++listened_count_ : --listened_count_;
            out.push_back({it->first, o.listen});
        }
        // Wanted again (or no longer) while the statement was in flight: go round again.
        if (e.wanted != e.listened)
            enqueue(it->first, e);
        else
            forget_if_idle(it);
    }
    in_flight_.clear();
    return out;
}

void listen_state::reset() {
    in_flight_.clear();
    queue_.clear();
    listened_count_ = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
        entry& e = it->second;
        e.busy = false;
        e.listened = false;
        e.queued = false;
        if (!e.wanted) {
            it = entries_.erase(it);
            continue;
        }
        enqueue(it->first, e);
        ++it;
    }
}

bool listen_state::listened(const std::string& channel) const {
    auto it = entries_.find(channel);
    return it != entries_.end() && it->second.listened;
}

}  // namespace gw::pg
