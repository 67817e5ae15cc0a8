#include "hub/router.hpp"

#include "hub/shard.hpp"
#include "log.hpp"
#include "payload_rule.hpp"

namespace gw::hub {

namespace {

// A channel catch-up whose snapshot query failed is retried this often, this many times.
constexpr auto catch_up_retry = std::chrono::seconds(1);
constexpr unsigned catch_up_attempts = 30;

}  // namespace

router::router(net::io_context& ioc, event_input& input, settings s, const channel_namer& namer,
               std::vector<shard*> shards)
    : ioc_(ioc),
      input_(input),
      settings_(std::move(s)),
      namer_(namer),
      shards_(std::move(shards)),
      framer_(settings_.event_name, settings_.wrap_field),
      per_shard_(shards_.size()) {
    if (!settings_.shared_channel.empty()) table_.carry_on(settings_.shared_channel);
    if (!settings_.broadcast_channel.empty()) table_.pin(settings_.broadcast_channel);
}

void router::start() {
    net::post(ioc_, [this] {
        input_.start(*this);
        // The pinned channels: listened for as long as the process runs.
        for (const auto* pinned : {&settings_.shared_channel, &settings_.broadcast_channel})
            if (!pinned->empty() && input_.listen(*pinned)) announce(table_.listened(*pinned, seq_));
    });
}

void router::stop() {
    net::post(ioc_, [this] {
        stopped_ = true;
        input_.stop();
    });
}

void router::add(std::string channel, std::string user, unsigned shard, std::uint64_t seq) {
    net::post(ioc_, [this, channel = std::move(channel), user = std::move(user), shard, seq] {
        if (stopped_) return;
        if (!table_.add(channel, user, shard, seq))
            announce(table_.carried(channel, seq_));
        else if (input_.listen(channel))
            announce(table_.listened(channel, seq_));
    });
}

void router::remove(std::string channel, unsigned shard) {
    net::post(ioc_, [this, channel = std::move(channel), shard] {
        if (stopped_) return;
        if (table_.remove(channel, shard)) input_.unlisten(channel);
    });
}

void router::catch_up(std::string channel, std::optional<std::uint64_t> last_seq,
                      std::function<void(catch_up_reply)> reply) {
    net::post(ioc_, [this, channel = std::move(channel), last_seq, reply = std::move(reply)] {
        channel_record* rec = table_.record(channel);
        if (last_seq && rec) {
            auto frames = rec->replay.after(*last_seq, seq_, std::chrono::steady_clock::now(), settings_.replay_age);
            if (frames) {
                counters_.replays.inc();
                return reply({std::move(*frames), true});
            }
        }
        if (!input_.has_snapshots() || !rec || stopped_) return reply({});
        // The snapshot carries the id of the newest event so far: every event up to
        // it is reflected in the state the query reads, so a reconnect with this id
        // can be answered from the replay buffer.
        input_.snapshot(rec->user, [this, channel, reply, at = seq_](bool ok, std::optional<std::string> value) {
            if (!ok || !value) return reply({});
            counters_.snapshots.inc();
            // On a channel that has had no NOTIFY yet, the snapshot is the last state
            // its streams were told: a catch-up after an outage compares with it, so
            // an unchanged status is not sent again. A NOTIFY's payload is newer
            // news than any snapshot, so it is never overwritten.
            if (channel_record* r = table_.record(channel); r && r->last_payload.empty()) r->last_payload = *value;
            reply({{framer_.frame(at, *value)}, false});
        });
    });
}

void router::on_notifications(std::span<const notification> batch) {
    assert_on_thread(ioc_);
    for (const auto& n : batch) {
        if (n.channel == settings_.broadcast_channel) {
            publish_broadcast(n.payload, n.received);
        } else if (n.channel == settings_.shared_channel) {
            if (auto user_channel = shared_route(n.payload))
                publish(*user_channel, n.payload, n.received);
            else
                counters_.unrouted.inc();
        } else {
            publish(n.channel, n.payload, n.received);
        }
    }
    flush_deliveries();
}

std::optional<std::string> router::shared_route(std::string_view payload) const {
    auto user = user_in_payload(payload, settings_.shared_user_field);
    if (!user) return std::nullopt;
    auto named = namer_.name(*user);
    if (!named.ok()) return std::nullopt;
    return std::move(named.channel);
}

void router::publish(std::string_view channel, std::string_view payload, std::chrono::steady_clock::time_point at) {
    auto [rec, shards] = table_.find_route(channel);
    if (shards == 0 || !rec) {
        counters_.unrouted.inc();
        return;
    }
    auto frame = framer_.frame(++seq_, payload);
    rec->replay.push(seq_, frame, at, settings_.replay_size, settings_.replay_age);
    rec->last_payload = payload;
    for (unsigned s = 0; shards != 0; ++s, shards >>= 1)
        if (shards & 1) per_shard_[s].push_back({std::string(channel), frame, at});
}

void router::publish_broadcast(std::string_view payload, std::chrono::steady_clock::time_point at) {
    // Not kept for replay: a broadcast belongs to no channel's history.
    auto frame = framer_.frame(++seq_, payload);
    for (auto& batch : per_shard_) batch.push_back({std::string(), frame, at});
}

void router::flush_deliveries() {
    for (std::size_t s = 0; s < shards_.size(); ++s) {
        auto& batch = per_shard_[s];
        if (batch.empty()) continue;
        // The shard that shares this thread gets its events now rather than behind
        // a post: no queue round trip, and nothing else runs in between.
        if (&shards_[s]->context() == &ioc_) {
            shards_[s]->deliver(batch);
            batch.clear();
        } else {
            shards_[s]->post_deliver(std::move(batch));
            batch = {};
        }
    }
}

void router::announce(channel_table::update u) {
    std::vector<std::vector<announcement>> per_shard(shards_.size());
    for (auto& a : u.announce) per_shard[a.shard].push_back(std::move(a));
    for (std::size_t s = 0; s < shards_.size(); ++s)
        if (!per_shard[s].empty()) shards_[s]->post_announce(std::move(per_shard[s]));
    for (const auto& channel : u.catch_up) catch_up_channel(channel, 0);
}

void router::on_listen_changes(std::span<const listen_change> changes) {
    assert_on_thread(ioc_);
    for (const auto& c : changes) {
        if (c.listened)
            announce(table_.listened(c.channel, seq_));
        else
            table_.unlistened(c.channel);
    }
}

void router::on_down() {
    assert_on_thread(ioc_);
    table_.down();
    for (auto* s : shards_) s->post_down();
}

void router::catch_up_channel(const std::string& channel, unsigned attempt) {
    channel_record* rec = table_.record(channel);
    if (!input_.has_snapshots() || !rec) return;
    if (attempt == 0) counters_.catch_ups.inc();
    input_.snapshot(rec->user, [this, channel, attempt](bool ok, std::optional<std::string> value) {
        auto [rec, shards] = table_.find_route(channel);
        // Gone, or lost again (the next re-LISTEN catches up anew).
        if (!rec || shards == 0 || !input_.up() || stopped_) return;
        if (!ok) {
            if (attempt + 1 >= catch_up_attempts) {
                log::warn("catch-up gave up").str("channel", channel);
                return;
            }
            auto t = std::make_shared<net::steady_timer>(ioc_, catch_up_retry);
            t->async_wait([this, t, channel, attempt](error_code ec) {
                if (!ec) catch_up_channel(channel, attempt + 1);
            });
            return;
        }
        // Only what differs from the channel's last event is news.
        if (!value || *value == rec->last_payload) return;
        counters_.snapshots.inc();
        publish(channel, *value, std::chrono::steady_clock::now());
        flush_deliveries();
    });
}

}  // namespace gw::hub
