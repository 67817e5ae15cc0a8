#pragma once
// Open streams per user, across all loops, to enforce --max-streams-per-user.
// Touched only when a stream opens or closes, never per event, so one mutex is
// cheap. Thread rule: any thread.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace gw::hub {

class user_counts {
public:
    explicit user_counts(std::uint32_t limit) : limit_(limit) {}

    // False when the user already holds `limit` streams.
    bool acquire(const std::string& user);
    void release(const std::string& user);

private:
    std::uint32_t limit_;
    std::mutex mutex_;
    std::unordered_map<std::string, std::uint32_t> counts_;
};

}  // namespace gw::hub
