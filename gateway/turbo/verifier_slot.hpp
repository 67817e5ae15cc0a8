#pragma once
// The signed-stream verifier in force: built from the secret_key_base values the
// identity chain loads (auth_chain's rails-bases sink), and replaced whole when
// they are reloaded (SIGHUP, a watched file), so every Turbo route verifies with
// the same keys as rails-session mode at every moment.
// Thread rule: set() from the loading thread, current() from any thread.
#include "turbo/signed_stream_name.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gw::turbo {

class verifier_slot {
public:
    // Throws std::invalid_argument when `secret_key_bases` is empty or holds an empty value.
    void set(const std::vector<std::string>& secret_key_bases);
    // Null until the first set().
    std::shared_ptr<const signed_stream_verifier> current() const;

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const signed_stream_verifier> verifier_;
};

}  // namespace gw::turbo
