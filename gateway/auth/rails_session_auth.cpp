#include "auth/rails_session_auth.hpp"

#include "auth/request_credentials.hpp"

#include <chrono>
#include <stdexcept>

namespace gw::auth {

rails_session_auth::rails_session_auth(std::string_view secret_key_base, std::string cookie_name,
                                       std::string_view key_digest, std::string session_key, std::string fallback_key)
    : rails_session_auth(std::vector<std::string>{std::string(secret_key_base)}, std::move(cookie_name),
                         std::string(key_digest), std::move(session_key), std::move(fallback_key)) {}

rails_session_auth::rails_session_auth(const std::vector<std::string>& secret_key_bases, std::string cookie_name,
                                       std::string key_digest, std::string session_key, std::string fallback_key)
    : cookie_name_(std::move(cookie_name)),
      key_digest_(std::move(key_digest)),
      decoder_(std::make_shared<const rails_session>(secret_key_bases, cookie_name_, key_digest_)) {
    if (session_key.empty()) throw std::invalid_argument("Rails session key name is empty");
    keys_.push_back(std::move(session_key));
    if (!fallback_key.empty()) keys_.push_back(std::move(fallback_key));
}

std::shared_ptr<const rails_session> rails_session_auth::decoder_for(
    const std::vector<std::string>& secret_key_bases) const {
    return std::make_shared<const rails_session>(secret_key_bases, cookie_name_, key_digest_);
}

auth_result rails_session_auth::authenticate(const request_context& req) const {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return authenticate_at(req, std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

auth_result rails_session_auth::authenticate_at(const request_context& req, std::int64_t now_unix) const {
    const auto cookie = find_cookie(req.headers, cookie_name_);
    if (!cookie || cookie->empty()) return auth_result::none(reason::missing_cookie);
    auto session = decoder_.get()->decode(*cookie, now_unix);
    if (!session.ok()) return auth_result::bad(session.why);
    auto user = rails_session::find_user(session.session, keys_);
    if (!user.ok()) return auth_result::bad(user.why);
    return auth_result::ok(std::move(user.user), session.expires_at_ms);
}

}  // namespace gw::auth
