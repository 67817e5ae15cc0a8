#include "hub/shard.hpp"

#include "hub/router.hpp"

namespace gw::hub {

namespace {

bool same(const std::weak_ptr<subscriber>& w, const subscriber& s) {
    auto p = w.lock();
    return !p || p.get() == &s;  // expired entries are swept along the way
}

}  // namespace

namespace {
// Heartbeats, listen deadlines and stalled-write checks are due on the tick. Each
// stream sits in one slot of the ring and is visited once per turn (a second), so
// a tick touches a hundredth of the streams and their heartbeats never come as one
// burst. Events wait behind a tick: at 10,000 streams a shard's tick is ~0.1 ms,
// where ten 100 ms slots made it ~1 ms and put it into the p99 of delivery.
constexpr auto tick_period = std::chrono::milliseconds(10);
// ...and since every stream lives on one loop (server.cpp), a slot of 19,000
// streams' heartbeats, each a write that wakes its client, held the loop for
// 0.1-0.5 ms (sse_gateway_tick_seconds, BENCHMARKS.md). So a tick visits this
// many streams at a time and posts the rest: a NOTIFY that arrives meanwhile is
// read and delivered between two steps, never behind the whole slot.
constexpr std::size_t tick_step = 4;
}  // namespace

shard::shard(unsigned index) : index_(index) {}

void shard::do_tick() {
    tick_timer_.expires_after(tick_period);
    tick_timer_.async_wait([this](error_code ec) {
        if (ec) return;
        const auto now = std::chrono::steady_clock::now();
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

void shard::visit_due(std::size_t from, std::chrono::steady_clock::time_point now) {
    const auto started = std::chrono::steady_clock::now();
    const auto end = std::min(from + tick_step, due_.size());
    for (auto i = from; i < end; ++i) due_[i]->tick(now);
    counters_.tick.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (end < due_.size()) return net::post(ioc_, [this, end, now] { visit_due(end, now); });
    due_.clear();
    // A shard without streams sleeps: since every stream lives on shard 0, the
    // other loops would otherwise wake 100 times a second for nothing, and an
    // idle gateway too. The subscribe() that makes the ring non-empty again
    // starts the tick; while it holds anything, the tick runs.
    if (ring_entries_ != 0) do_tick();
}

std::vector<std::shared_ptr<subscriber>> shard::all_subscribers() const {
    // Copied out first: a tick or a send may close a stream, which edits the lists.
    std::vector<std::shared_ptr<subscriber>> all;
    for (const auto& [channel, e] : channels_)
        for (const auto& w : e.subs)
            if (auto s = w.lock()) all.push_back(std::move(s));
    return all;
}

void shard::subscribe(const std::shared_ptr<subscriber>& s) {
    assert_on_thread(ioc_);
    ring_[next_ring_slot_].push_back(s);
    next_ring_slot_ = (next_ring_slot_ + 1) % ring_.size();
    if (ring_entries_++ == 0) do_tick();
    auto [it, fresh] = channels_.try_emplace(s->channel());
    channel_entry& e = it->second;
    e.subs.push_back(s);
    if (fresh) {
        e.seq = ++next_seq_;
        router_->add(it->first, s->user(), index_, e.seq);
    } else if (e.live) {
        // Posted, not called: the subscriber is still inside its own start-up.
        net::post(ioc_, [w = std::weak_ptr<subscriber>(s)] {
            if (auto p = w.lock()) p->go_live();
        });
    }
}

void shard::catch_up(const std::shared_ptr<subscriber>& s, std::optional<std::uint64_t> last_seq) {
    assert_on_thread(ioc_);
    router_->catch_up(s->channel(), last_seq, [this, w = std::weak_ptr<subscriber>(s)](catch_up_reply r) {
        net::post(ioc_, [w, r = std::move(r)]() mutable {
            if (auto p = w.lock()) p->caught_up(std::move(r));
        });
    });
}

void shard::unsubscribe(const subscriber& s) {
    assert_on_thread(ioc_);
    auto it = channels_.find(s.channel());
    if (it == channels_.end()) return;
    std::erase_if(it->second.subs, [&](const auto& w) { return same(w, s); });
    if (!it->second.subs.empty()) return;
    router_->remove(it->first, index_);
    channels_.erase(it);
}

std::uint64_t shard::track(std::weak_ptr<closable> c) {
    assert_on_thread(ioc_);
    auto id = ++next_track_id_;
    tracked_.emplace(id, std::move(c));
    return id;
}

void shard::untrack(std::uint64_t id) {
    assert_on_thread(ioc_);
    tracked_.erase(id);
}

void shard::post_deliver(std::vector<delivery> batch) {
    net::post(ioc_, [this, batch = std::move(batch)] { deliver(batch); });
}

void shard::deliver(const std::vector<delivery>& batch) {
    assert_on_thread(ioc_);
    for (const auto& d : batch) {
        if (d.channel.empty()) {
            broadcast(d.frame);
            continue;
        }
        auto it = channels_.find(d.channel);
        if (it == channels_.end()) continue;
        // send() may close a slow stream, which edits the list (and drops the
        // entry with its last stream): one stream is held first, several are
        // copied out first.
        if (it->second.subs.size() == 1) {
            if (auto s = it->second.subs.front().lock()) s->send(d.frame);
        } else {
            auto subs = it->second.subs;
            for (const auto& w : subs)
                if (auto s = w.lock()) s->send(d.frame);
        }
        counters_.notify_to_write.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - d.received).count());
    }
}

void shard::broadcast(const frame_ptr& frame) {
    for (const auto& s : all_subscribers()) s->send(frame);
}

void shard::post_announce(std::vector<announcement> live) {
    net::post(ioc_, [this, live = std::move(live)] {
        for (const auto& a : live) {
            auto it = channels_.find(a.channel);
            // A stale confirmation (the entry was dropped and requested again) is ignored.
            if (it == channels_.end() || it->second.seq != a.seq || it->second.live) continue;
            it->second.live = true;
            auto subs = it->second.subs;
            for (const auto& w : subs)
                if (auto s = w.lock()) s->go_live();
        }
    });
}

void shard::post_down() {
    net::post(ioc_, [this] {
        for (auto& [channel, e] : channels_) e.live = false;
    });
}

void shard::post_drain(std::chrono::milliseconds spread) {
    net::post(ioc_, [this, spread] {
        std::uniform_int_distribution<std::int64_t> pick(0, std::max<std::int64_t>(spread.count(), 0));
        for (auto& [id, w] : tracked_) {
            auto t = std::make_shared<net::steady_timer>(ioc_, std::chrono::milliseconds(pick(rng_)));
            t->async_wait([t, w](error_code) {
                if (auto c = w.lock()) c->close(close_reason::shutdown);
            });
        }
    });
}

void shard::post_close_all() {
    net::post(ioc_, [this] {
        auto all = tracked_;
        for (auto& [id, w] : all)
            if (auto c = w.lock()) c->close(close_reason::shutdown);
    });
}

}  // namespace gw::hub
