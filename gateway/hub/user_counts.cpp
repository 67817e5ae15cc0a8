#include "hub/user_counts.hpp"

namespace gw::hub {

bool user_counts::acquire(const std::string& user) {
    std::lock_guard lock(mutex_);
    auto& n = counts_[user];
    if (n >= limit_) return false;
    ++n;
    return true;
}

void user_counts::release(const std::string& user) {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(user);
    if (it == counts_.end()) return;
    if (--it->second == 0) counts_.erase(it);
}

}  // namespace gw::hub
