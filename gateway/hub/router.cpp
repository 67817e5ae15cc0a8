#include "hub/router.hpp"

#include "hub/stream_registry.hpp"
#include "log.hpp"
#include "payload_rule.hpp"

namespace gw::hub {

namespace {

// A channel catch-up whose snapshot query failed is retried this often, this many times.
constexpr auto catch_up_retry = std::chrono::seconds(1);
constexpr unsigned catch_up_attempts = 30;

}  // namespace

router::router(net::io_context& ioc, event_input& input, settings s, const channel_namer& namer,
               stream_registry& streams)
    : ioc_(ioc),
      input_(input),
      settings_(std::move(s)),
      namer_(namer),
      streams_(streams),
      framer_(settings_.event_name, settings_.wrap_field, settings_.payload) {
    if (shared_mode()) table_.carry_on(settings_.shared_channel);
    if (!settings_.broadcast_channel.empty()) table_.pin(settings_.broadcast_channel);
}

void router::start() {
    net::post(ioc_, [this] {
        input_.start(*this);
        // The pinned channels: listened for as long as the process runs.
        if (shared_mode() && input_.listen(settings_.shared_channel))
            announce(table_.listened(settings_.shared_channel, seq_));
        if (!settings_.broadcast_channel.empty() && input_.listen(settings_.broadcast_channel))
            announce(table_.listened(settings_.broadcast_channel, seq_));
    });
}

void router::stop() {
    net::post(ioc_, [this] {
        stopped_ = true;
        input_.stop();
    });
}

void router::add(std::string channel, std::string user, std::uint64_t seq) {
    net::post(ioc_, [this, channel = std::move(channel), user = std::move(user), seq] {
        if (stopped_) return;
        if (!table_.add(channel, user, seq))
            announce(table_.carried(channel, seq_));
        else if (input_.listen(channel))
            announce(table_.listened(channel, seq_));
    });
}

void router::remove(std::string channel) {
    net::post(ioc_, [this, channel = std::move(channel)] {
        if (stopped_) return;
        if (table_.remove(channel)) input_.unlisten(channel);
    });
}

void router::catch_up(std::string channel, std::optional<std::uint64_t> last_seq,
                      std::function<void(catch_up_reply)> reply) {
    net::post(ioc_, [this, channel = std::move(channel), last_seq, reply = std::move(reply)]() mutable {
        channel_record* rec = table_.record(channel);
        if (last_seq && rec) {
            auto frames = rec->replay.after(*last_seq, seq_, std::chrono::steady_clock::now(), settings_.replay_age);
            if (frames) {
                counters_.replays.inc();
                return reply({std::move(*frames), true});
            }
        }
        if (!has_snapshots() || !rec || stopped_) return reply({});
        rec->waiters.push_back({std::move(reply), seq_, rec->listen_gen});
        query_snapshot(channel);
    });
}

void router::on_notifications(std::span<const notification> batch) {
    assert_on_thread(ioc_);
    for (const auto& n : batch) {
        if (n.channel == settings_.broadcast_channel) {
            publish_broadcast(n.payload);
        } else if (shared_mode() && n.channel == settings_.shared_channel) {
            if (auto user_channel = shared_route(n.payload))
                publish(*user_channel, n.payload, n.received);
            else
                counters_.unrouted.inc();
        } else {
            publish(n.channel, n.payload, n.received);
        }
    }
}

std::optional<std::string> router::shared_route(std::string_view payload) const {
    auto user = user_in_payload(payload, settings_.shared_user_field);
    if (!user) return std::nullopt;
    auto named = namer_.name(*user);
    if (!named.ok()) return std::nullopt;
    return std::move(named.channel);
}

void router::publish(std::string_view channel, std::string_view payload, std::chrono::steady_clock::time_point at) {
    auto [rec, live] = table_.find_route(channel);
    if (!live || !rec) {
        counters_.unrouted.inc();
        return;
    }
    auto frame = framer_.frame(++seq_, payload);
    rec->replay.push(seq_, frame, at, settings_.replay_size, settings_.replay_age);
    rec->last_payload = payload;
    rec->last_seq = seq_;
    rec->last_frame = frame;
    streams_.deliver(channel, frame, at);
}

void router::publish_broadcast(std::string_view payload) {
    // Not kept for replay: a broadcast belongs to no channel's history.
    streams_.broadcast(framer_.frame(++seq_, payload));
}

void router::announce(channel_table::update u) {
    for (const auto& a : u.announce) streams_.announce(a);
    for (const auto& channel : u.catch_up) {
        channel_record* rec = table_.record(channel);
        if (!rec) continue;
        if (rec->needs_catch_up && has_snapshots()) {
            counters_.catch_ups.inc();
            rec->catch_up_gen = rec->listen_gen;
            rec->catch_up_attempt = 0;
        }
        rec->needs_catch_up = false;
        query_snapshot(channel);
    }
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
    streams_.down();
}

void router::query_snapshot(const std::string& channel) {
    channel_record* rec = table_.record(channel);
    // One query per channel at a time: whoever asks meanwhile waits for the next.
    // Only while the channel is listened: the rule in on_snapshot() needs every
    // change committed after the query was sent to be NOTIFYed to us.
    if (!rec || rec->query_id != 0 || stopped_ || !has_snapshots() || !table_.is_listened(channel)) return;
    if (rec->waiters.empty() && rec->catch_up_gen == 0) return;
    rec->query_id = ++last_query_id_;
    rec->query_sent_at = seq_;
    rec->query_gen = rec->listen_gen;
    input_.snapshot(*settings_.snapshot_query, rec->user,
                    [this, channel, id = rec->query_id](bool ok, std::optional<std::string> value) {
                        on_snapshot(channel, id, ok, std::move(value));
                    });
}

void router::on_snapshot(const std::string& channel, std::uint64_t id, bool ok, std::optional<std::string> value) {
    channel_record* rec = table_.record(channel);
    // The channel was dropped meanwhile (and perhaps wanted anew): nobody waits for this answer.
    if (!rec || rec->query_id != id) return;
    rec->query_id = 0;
    if (stopped_) return;
    // Every committed change NOTIFYs, in commit order, and the query was sent only
    // after the channel's LISTEN took effect. So a NOTIFY received on the channel
    // since the query was sent may carry a change the query did not see, and never
    // one older than what it saw: it supersedes the result (proto_docs/delivery.md).
    const bool superseded = rec->last_seq > rec->query_sent_at;
    bool published = false;
    bool retrying = false;
    // The catch-up after a loss, when this query was sent since the channel came back.
    if (rec->catch_up_gen != 0 && rec->catch_up_gen <= rec->query_gen && table_.is_listened(channel)) {
        if (!ok && ++rec->catch_up_attempt < catch_up_attempts) {
            retrying = true;
            auto t = std::make_shared<net::steady_timer>(ioc_, catch_up_retry);
            t->async_wait([this, t, channel](error_code ec) {
                if (!ec) query_snapshot(channel);
            });
        } else {
            if (!ok) log::warn("catch-up gave up").str("channel", channel);
            rec->catch_up_gen = 0;
            // Only what differs from the channel's last event is news.
            if (ok && !superseded && value && *value != rec->last_payload) {
                counters_.snapshots.inc();
                publish(channel, *value, std::chrono::steady_clock::now());
                published = true;
            }
        }
    }
    // Everyone who asked under this query's LISTEN or an earlier one; the others
    // (asked after a loss since) wait for the next query.
    std::vector<snapshot_waiter> served;
    std::erase_if(rec->waiters, [&](snapshot_waiter& w) {
        if (w.gen > rec->query_gen) return false;
        served.push_back(std::move(w));
        return true;
    });
    frame_ptr snapshot;
    if (ok && value && !superseded && !published) {
        // The snapshot carries the id of the newest event when it was sent: every
        // event up to it is reflected in what it read, so a reconnect with this id
        // can be answered from the replay buffer.
        snapshot = framer_.frame(rec->query_sent_at, *value);
        // On a channel that has had no NOTIFY yet, the snapshot is the last state
        // its streams were told: a catch-up after an outage compares with it, so
        // an unchanged status is not sent again. A NOTIFY's payload is newer
        // news than any snapshot, so it is never overwritten.
        if (rec->last_payload.empty()) rec->last_payload = *value;
    }
    const frame_ptr newest = rec->last_frame;
    const std::uint64_t newest_seq = rec->last_seq;
    if (!retrying) query_snapshot(channel);  // for those still waiting
    for (auto& w : served) {
        catch_up_reply r;
        if (snapshot) {
            counters_.snapshots.inc();
            r.frames.push_back(snapshot);
        } else if (superseded && newest && w.since >= newest_seq) {
            // The newer event went out before this stream asked: it gets it now.
            r.frames.push_back(newest);
        }
        // Otherwise the stream holds the newer event (or the published snapshot)
        // among the events that arrived while it caught up.
        w.reply(std::move(r));
    }
}

}  // namespace gw::hub
