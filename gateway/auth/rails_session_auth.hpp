#pragma once
// Mode "rails-session": the browser's existing Rails session cookie names the
// user. The configured cookie is read from the Cookie header(s), decoded with
// rails_session, and the user id is taken from session_key, or from fallback_key
// when session_key is absent or null. No (or an empty) cookie is
// none(reason::missing_cookie); anything else that fails is bad(<reason>).
// The decoder (the keys derived from secret_key_base) is replaced whole when the
// configured values rotate; a request being checked finishes with the one it began with.
// Thread rule: authenticate() and set_decoder() run concurrently from any thread;
// all else is immutable after construction.
#include "auth/authenticator.hpp"
#include "auth/published.hpp"
#include "auth/rails_session.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace gw::auth {

class rails_session_auth final : public authenticator {
public:
    // Throws std::invalid_argument as rails_session does, or for an empty session_key.
    rails_session_auth(std::string_view secret_key_base, std::string cookie_name, std::string_view key_digest,
                       std::string session_key, std::string fallback_key);
    // Several secret_key_base values, the current one first.
    rails_session_auth(const std::vector<std::string>& secret_key_bases, std::string cookie_name,
                       std::string key_digest, std::string session_key, std::string fallback_key);

    // A decoder for other secret_key_base values with this mode's cookie and digest
    // (throws as rails_session does); set_decoder() puts it in force.
    std::shared_ptr<const rails_session> decoder_for(const std::vector<std::string>& secret_key_bases) const;
    void set_decoder(std::shared_ptr<const rails_session> decoder) { decoder_.set(std::move(decoder)); }

    std::string_view name() const override { return "rails-session"; }
    // Uses std::chrono::system_clock for "now" (envelope expiry).
    auth_result authenticate(const request_context& req) const override;
    auth_result authenticate_at(const request_context& req, std::int64_t now_unix) const;

private:
    std::string cookie_name_;
    std::string key_digest_;
    published<rails_session> decoder_;
    std::vector<std::string> keys_;  // session_key, then fallback_key if set
};

}  // namespace gw::auth
