#include "turbo/verifier_slot.hpp"

namespace gw::turbo {

void verifier_slot::set(const std::vector<std::string>& secret_key_bases) {
    // Keys are derived outside the lock: a request never waits for PBKDF2.
    auto next = std::make_shared<const signed_stream_verifier>(secret_key_bases);
    std::lock_guard lock(mutex_);
    verifier_ = std::move(next);
}

std::shared_ptr<const signed_stream_verifier> verifier_slot::current() const {
    std::lock_guard lock(mutex_);
    return verifier_;
}

}  // namespace gw::turbo
