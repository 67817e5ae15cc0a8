#include "hub/stream_registry.hpp"

#include "hub/router.hpp"

namespace gw::hub {

namespace {

bool same(const std::weak_ptr<subscriber>& w, const subscriber& s) {
    auto p = w.lock();
    return !p || p.get() == &s;  // expired entries are swept along the way
}

// Heartbeats, listen deadlines and stalled-write checks are due on the tick. Each
// stream sits in one slot of the ring and is visited once per turn (a second), so
// a tick touches a hundredth of the streams and their heartbeats never come as one
// burst. Events wait behind a tick: at 10,000 streams a tick is ~0.1 ms, where
// ten 100 ms slots made it ~1 ms and put it into the p99 of delivery.
constexpr auto tick_period = std::chrono::milliseconds(10);
// ...and since every stream lives on one loop (server.cpp), a slot of 19,000
// streams' heartbeats, each a write that wakes its client, held the loop for
// 0.1-0.5 ms (sse_gateway_tick_seconds, BENCHMARKS.md). So a tick visits this
// many streams at a time and posts the rest: a NOTIFY that arrives meanwhile is
// read and delivered between two steps, never behind the whole slot.
constexpr std::size_t tick_step = 4;

}  // namespace

void stream_registry::do_tick() {
    tick_timer_.expires_after(tick_period);
    tick_timer_.async_wait([this](error_code ec) {
        if (ec) return;
        const auto now = std::chrono::steady_clock::now();
        coarse_now_ = now;
        auto& slot = ring_[next_tick_slot_];
        next_tick_slot_ = (next_tick_slot_ + 1) % ring_.size();
        // Closed streams leave their slot here; the live ones are copied out first,
        // since a tick may close a stream.
        due_.clear();
        ring_entries_ -= std::erase_if(slot, [&](const std::weak_ptr<subscriber>& w) {
            auto s = w.lock();
            if (!s) return true;
            due_.push_back(std::move(s));
            return false;
        });
        visit_due(0, now);
    });
}

void stream_registry::visit_due(std::size_t from, std::chrono::steady_clock::time_point now) {
    const auto started = std::chrono::steady_clock::now();
    const auto end = std::min(from + tick_step, due_.size());
    for (auto i = from; i < end; ++i) due_[i]->tick(now);
    counters_.tick.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (end < due_.size()) return net::post(context(), [this, end, now] { visit_due(end, now); });
    due_.clear();
    // Without streams the registry sleeps: an idle gateway does not wake 100
    // times a second for nothing. The subscribe() that makes the ring non-empty
    // again starts the tick; while it holds anything, the tick runs.
    if (ring_entries_ != 0) do_tick();
}

void stream_registry::subscribe(const std::shared_ptr<subscriber>& s) {
    assert_on_thread(context());
    ring_[next_ring_slot_].push_back(s);
    next_ring_slot_ = (next_ring_slot_ + 1) % ring_.size();
    if (ring_entries_++ == 0) {
        coarse_now_ = std::chrono::steady_clock::now();  // the tick slept: its clock is stale
        do_tick();
    }
    auto [it, fresh] = channels_.try_emplace(s->channel());
    channel_entry& e = it->second;
    e.subs.push_back(s);
    if (fresh) {
        e.seq = ++next_seq_;
        router_->add(it->first, s->user(), e.seq);
    } else if (e.live) {
        // Posted, not called: the subscriber is still inside its own start-up.
        net::post(context(), [w = std::weak_ptr<subscriber>(s)] {
            if (auto p = w.lock()) p->go_live();
        });
    }
}

void stream_registry::catch_up(const std::shared_ptr<subscriber>& s, std::optional<std::uint64_t> last_seq) {
    assert_on_thread(context());
    // The router answers on this loop (its own): the reply goes straight to the stream.
    router_->catch_up(s->channel(), last_seq, [w = std::weak_ptr<subscriber>(s)](catch_up_reply r) {
        if (auto p = w.lock()) p->caught_up(std::move(r));
    });
}

void stream_registry::unsubscribe(const subscriber& s) {
    assert_on_thread(context());
    auto it = channels_.find(s.channel());
    if (it == channels_.end()) return;
    std::erase_if(it->second.subs, [&](const auto& w) { return same(w, s); });
    if (!it->second.subs.empty()) return;
    router_->remove(it->first);
    channels_.erase(it);
}

void stream_registry::observe(std::chrono::steady_clock::time_point received) {
    counters_.notify_to_write.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count());
}

void stream_registry::deliver(std::string_view channel, const frame_ptr& frame,
                              std::chrono::steady_clock::time_point received) {
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;
    // send() may close a slow stream, which edits the list (and drops the entry
    // with its last stream): one stream is held first, several are copied out first.
    if (it->second.subs.size() == 1) {
        if (auto s = it->second.subs.front().lock()) s->send(frame);
    } else {
        auto subs = it->second.subs;
        for (const auto& w : subs)
            if (auto s = w.lock()) s->send(frame);
    }
    observe(received);
}

void stream_registry::broadcast(const frame_ptr& frame) {
    // Copied out first: a send may close a stream, which edits the lists.
    std::vector<std::shared_ptr<subscriber>> all;
    for (const auto& [channel, e] : channels_)
        for (const auto& w : e.subs)
            if (auto s = w.lock()) all.push_back(std::move(s));
    for (const auto& s : all) s->send(frame);
}

void stream_registry::announce(const announcement& a) {
    auto it = channels_.find(a.channel);
    // A stale confirmation (the entry was dropped and requested again) is ignored.
    if (it == channels_.end() || it->second.seq != a.seq || it->second.live) return;
    it->second.live = true;
    auto subs = it->second.subs;
    for (const auto& w : subs)
        if (auto s = w.lock()) s->go_live();
}

void stream_registry::down() {
    for (auto& [channel, e] : channels_) e.live = false;
}

}  // namespace gw::hub
