#pragma once
// The LISTEN bookkeeping, free of I/O: which shards want which channel, which
// channels the connection actually listens on, and the batch of LISTEN/UNLISTEN
// statements to send next. A shard's interest carries the sequence number of its
// request; once the LISTEN is confirmed, the set reports (shard, seq) pairs to
// announce, so a shard never takes a stale confirmation for a newer request.
//
// Shared-channel mode (carry_on): the per-user channels are not LISTENed at all;
// one bearer channel carries every user's events (the user id is in the payload)
// and each per-user entry counts as listened exactly while the bearer is. Pinned
// channels (the bearer, a broadcast channel) are wanted whether or not any shard is.
//
// Thread rule: call only from the listener's thread.
#include "pg/replay_buffer.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace gw::pg {

inline constexpr unsigned max_shards = 64;

// What the listener keeps per wanted channel besides the LISTEN state.
struct channel_record {
    std::string user;             // the user id the channel was made from (snapshot $1)
    replay_buffer replay;         // recent events, for Last-Event-ID
    std::string last_payload;     // the last event sent on the channel: a NOTIFY, or a snapshot before any
    bool needs_catch_up = false;  // lost its LISTEN: compare with the snapshot once back
};

class listen_set {
public:
    struct op {
        std::string channel;
        bool listen;  // false: UNLISTEN
    };
    struct announcement {
        unsigned shard;
        std::uint64_t seq;
        std::string channel;
    };
    struct confirmation {
        std::vector<announcement> announce;
        std::vector<std::string> catch_up;  // listened again after a loss
    };

    // A shard gained its first / lost its last stream on the channel.
    // add() may announce at once when the channel is already listened; seq_now is
    // the newest event sequence number (where a replay buffer would start).
    std::vector<announcement> add(const std::string& channel, const std::string& user, unsigned shard,
                                  std::uint64_t seq, std::uint64_t seq_now = 0);
    // Keep the channel listened whether or not any shard wants it.
    void pin(const std::string& channel);
    // Shared-channel mode: `bearer` (pinned) carries every other channel.
    void carry_on(const std::string& bearer);
    void remove(const std::string& channel, unsigned shard);

    // The statements to send now (at most max_ops), marked in flight; empty while a
    // batch is already in flight or nothing differs.
    std::vector<op> take_batch(std::size_t max_ops);
    // The batch in flight succeeded: apply it. `seq_now` is the newest event
    // sequence number: a channel listened from now on restarts its replay there.
    confirmation confirm(std::uint64_t seq_now);
    // The connection was lost: nothing is listened any more, nothing in flight, and
    // every interested shard is announced to again once its channel is re-listened.
    void reset();

    // The channel's record while anyone wants it or it is listened; else null.
    channel_record* record(const std::string& channel);

    // Which shards want the channel (bit i = shard i); 0 when unknown or not listened.
    std::uint64_t listeners(const std::string& channel) const;

    // Both of the above in one lookup, for the per-event path.
    struct route {
        channel_record* record = nullptr;
        std::uint64_t shards = 0;
    };
    route find_route(const std::string& channel);

    bool in_flight() const { return !in_flight_.empty(); }
    bool settled() const;  // nothing to send and nothing in flight
    std::size_t listened_count() const { return listened_count_; }

private:
    struct interest {
        unsigned shard;
        std::uint64_t seq;  // the shard's latest request
        bool announced;     // the shard has been told the channel is listened
    };
    struct entry {
        std::uint64_t shards = 0;  // bit i = shard i has interest; mirrors interests
        bool listened = false;
        bool busy = false;    // part of the batch in flight
        bool queued = false;  // named in queue_
        bool pinned = false;  // wanted whether or not a shard is
        std::vector<interest> interests;
        channel_record record;
    };

    std::unordered_map<std::string, entry> entries_;
    std::vector<std::string> queue_;  // channels whose wanted state may differ from the listened one
    std::vector<op> in_flight_;
    std::size_t listened_count_ = 0;

    void enqueue(const std::string& channel, entry& e);
    bool is_virtual(const entry& e) const { return !bearer_.empty() && !e.pinned; }
    static bool wanted(const entry& e) { return e.shards != 0 || e.pinned; }
    void carry_virtual(std::uint64_t seq_now, confirmation& out);
    std::string bearer_;
    void forget_if_idle(std::unordered_map<std::string, entry>::iterator it);
};

}  // namespace gw::pg
