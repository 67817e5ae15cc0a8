#pragma once
// The configured identity modes, tried in order. The first mode that names a user
// wins. When none does, the most telling refusal is answered: credentials that
// were present and failed a check (401) beat a refused proxy (403), which beats
// "nothing to go on" (401). Thread rule: immutable after construction.
#include "auth/authenticator.hpp"

#include <memory>
#include <vector>

namespace gw {
struct config;
}

namespace gw::auth {

class auth_chain {
public:
    // Builds the modes named in cfg.auth_modes; throws std::invalid_argument with
    // a one-line reason for an unknown mode or an unusable mode configuration.
    explicit auth_chain(const config& cfg);
    explicit auth_chain(std::vector<std::unique_ptr<authenticator>> modes);

    auth_result authenticate(const request_context& req) const;

private:
    std::vector<std::unique_ptr<authenticator>> modes_;
};

}  // namespace gw::auth
