#pragma once
// Mode "rails-session": the browser's existing Rails session cookie names the
// user. The configured cookie is read from the Cookie header(s), decoded with
// rails_session, and the user id is taken from session_key, or from fallback_key
// when session_key is absent or null. No (or an empty) cookie is
// none("missing_cookie"); anything else that fails is bad(<reason>).
// Thread rule: immutable after construction; authenticate() runs concurrently.
#include "auth/authenticator.hpp"
#include "auth/rails_session.hpp"

#include <cstdint>
#include <vector>

namespace gw::auth {

class rails_session_auth final : public authenticator {
public:
    // Throws std::invalid_argument as rails_session does, or for an empty session_key.
    rails_session_auth(std::string_view secret_key_base, std::string cookie_name, std::string_view key_digest,
                       std::string session_key, std::string fallback_key);

    std::string_view name() const override { return "rails-session"; }
    // Uses std::chrono::system_clock for "now" (envelope expiry).
    auth_result authenticate(const request_context& req) const override;
    auth_result authenticate_at(const request_context& req, std::int64_t now_unix) const;

private:
    rails_session decoder_;
    std::string cookie_name_;
    std::vector<std::string> keys_;  // session_key, then fallback_key if set
};

}  // namespace gw::auth
