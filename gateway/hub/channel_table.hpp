#pragma once
// Which channels the streams want, and what the hub keeps per channel, free of
// I/O. The stream registry's interest carries the sequence number of its
// request; once the input reports the channel listened, the table hands out
// (seq, channel) pairs to announce, so the registry never takes a stale
// confirmation for a newer request.
//
// The table says when a channel must be listened or unlistened; the input (see
// event_input.hpp) does it and reports back through listened()/unlistened(). An
// entry outlives its last interest until its UNLISTEN took effect, so a stream
// that comes back quickly still finds its replay buffer.
//
// Shared-channel mode (carry_on): the per-user channels are not LISTENed at all;
// one bearer channel carries every user's events (the user id is in the payload)
// and each per-user entry counts as listened exactly while the bearer is. Pinned
// channels (the bearer, a broadcast channel) are wanted whether or not any stream is.
//
// Thread rule: call only from the router's thread.
#include "hub/events.hpp"
#include "hub/replay_buffer.hpp"
#include "string_hash.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gw::hub {

// A stream waiting for its channel's snapshot (see router::catch_up).
struct snapshot_waiter {
    std::function<void(catch_up_reply)> reply;
    std::uint64_t since;  // the newest event sequence number when it asked
    std::uint64_t gen;    // the channel's listen_gen when it asked
};

// What the hub keeps per wanted channel besides the interests.
struct channel_record {
    std::string user;          // the user id the channel was made from (snapshot $1)
    replay_buffer replay;      // recent events, for Last-Event-ID
    std::string last_payload;  // the last event sent on the channel: a NOTIFY, or a snapshot before any
    frame_ptr last_frame;      // the channel's newest event, and its sequence number (0: none yet)
    std::uint64_t last_seq = 0;
    // Counts the times the channel's LISTEN took effect: a snapshot query sent
    // under an earlier one may have missed NOTIFYs, so it answers nobody who
    // asked under a later one.
    std::uint64_t listen_gen = 0;
    bool needs_catch_up = false;  // lost its LISTEN: compare with the snapshot once back
    // The channel's snapshot query: at most one at a time, shared by everyone waiting.
    std::vector<snapshot_waiter> waiters;
    std::uint64_t query_id = 0;       // the running query's id; 0: none runs
    std::uint64_t query_sent_at = 0;  // the newest event sequence number when it was sent
    std::uint64_t query_gen = 0;      // listen_gen when it was sent
    std::uint64_t catch_up_gen = 0;   // non-zero: a catch-up is due under this listen_gen
    unsigned catch_up_attempt = 0;    // failed catch-up queries so far
};

class channel_table {
public:
    struct update {
        std::vector<announcement> announce;
        // Listened again after a loss, or with streams still waiting for a snapshot.
        std::vector<std::string> catch_up;
    };

    // The channel gained its first stream (request `seq`). True: the input must be
    // asked to listen (and its answer passed to listened()); false: the channel is
    // carried by the bearer and announced by carried() / listened(bearer).
    bool add(const std::string& channel, const std::string& user, std::uint64_t seq);
    // The channel lost its last stream. True: the input must unlisten it.
    bool remove(const std::string& channel);
    // Keep the channel listened whether or not any stream wants it.
    void pin(const std::string& channel);
    // Shared-channel mode: `bearer` (pinned) carries every other channel.
    void carry_on(const std::string& bearer);
    const std::string& bearer() const { return bearer_; }

    // The input listens on the channel (a carried channel: its bearer does). `seq_now`
    // is the newest event sequence number: a channel listened from now on restarts
    // its replay there. Announces every interest not yet announced.
    update listened(const std::string& channel, std::uint64_t seq_now);
    // A carried channel just added: announced at once while its bearer is listened.
    update carried(const std::string& channel, std::uint64_t seq_now);
    // The input's UNLISTEN took effect.
    void unlistened(const std::string& channel);
    // The connection was lost: nothing is listened; every interest is announced
    // again once its channel is back, and channels that were listened catch up.
    void down();

    // The channel's record while anyone wants it or it is listened; else null.
    channel_record* record(const std::string& channel);

    // The record and whether its streams get the channel's events (listened and
    // wanted by streams), in one lookup for the per-event path.
    struct route {
        channel_record* record = nullptr;
        bool live = false;
    };
    route find_route(std::string_view channel);
    // The input listens on the channel now.
    bool is_listened(const std::string& channel) const;

    std::size_t size() const { return entries_.size(); }

private:
    struct entry {
        bool streams = false;    // the registry has streams on it
        std::uint64_t seq = 0;   // the registry's latest request
        bool announced = false;  // the registry has been told the channel is listened
        bool listened = false;
        bool pinned = false;  // wanted whether or not a stream is
        channel_record record;
    };

    bool is_carried(const entry& e) const { return !bearer_.empty() && !e.pinned; }
    static bool wanted(const entry& e) { return e.streams || e.pinned; }
    bool bearer_listened() const;
    void mark_listened(const std::string& channel, entry& e, std::uint64_t seq_now, update& out);

    std::unordered_map<std::string, entry, string_hash, std::equal_to<>> entries_;
    std::string bearer_;
};

}  // namespace gw::hub
