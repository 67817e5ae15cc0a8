#include "hub/replay_buffer.hpp"

namespace gw::hub {

void replay_buffer::restart(std::uint64_t floor) {
    events_.clear();
    floor_ = floor;
    evicted_upto_ = floor;
}

void replay_buffer::evict_older_than(clock::time_point limit) {
    std::size_t n = 0;
    while (n < events_.size() && events_[n].at < limit) evicted_upto_ = events_[n++].seq;
    events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(n));
}

void replay_buffer::push(std::uint64_t seq, frame_ptr frame, clock::time_point now, std::size_t capacity,
                         clock::duration max_age) {
    if (capacity == 0) {
        evicted_upto_ = seq;
        return;
    }
    events_.push_back({seq, now, std::move(frame)});
    if (events_.size() > capacity) {
        evicted_upto_ = events_.front().seq;
        events_.erase(events_.begin());
    }
    evict_older_than(now - max_age);
}

std::optional<std::vector<replay_buffer::frame_ptr>> replay_buffer::after(std::uint64_t seq, std::uint64_t newest_known,
                                                                          clock::time_point now,
                                                                          clock::duration max_age) {
    evict_older_than(now - max_age);
    // seq == floor is not enough: events NOTIFYed while the channel was not
    // listened left no trace in the sequence.
    if (seq <= floor_ || seq < evicted_upto_ || seq > newest_known) return std::nullopt;
    std::vector<frame_ptr> out;
    for (const auto& e : events_)
        if (e.seq > seq) out.push_back(e.frame);
    return out;
}

}  // namespace gw::hub
