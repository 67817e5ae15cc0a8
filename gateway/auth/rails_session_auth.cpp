#include "auth/rails_session_auth.hpp"

#include "auth/request_credentials.hpp"

#include <chrono>
#include <stdexcept>

namespace gw::auth {

rails_session_auth::rails_session_auth(std::string_view secret_key_base, std::string cookie_name,
                                       std::string_view key_digest, std::string session_key, std::string fallback_key)
    : decoder_(secret_key_base, cookie_name, key_digest), cookie_name_(std::move(cookie_name)) {
    if (session_key.empty()) throw std::invalid_argument("Rails session key name is empty");
    keys_.push_back(std::move(session_key));
    if (!fallback_key.empty()) keys_.push_back(std::move(fallback_key));
}

auth_result rails_session_auth::authenticate(const request_context& req) const {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return authenticate_at(req, std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

auth_result rails_session_auth::authenticate_at(const request_context& req, std::int64_t now_unix) const {
    const auto cookie = find_cookie(req.headers, cookie_name_);
    if (!cookie || cookie->empty()) return auth_result::none("missing_cookie");
    auto session = decoder_.decode(*cookie, now_unix);
    if (!session.ok()) return auth_result::bad(std::move(session.reason));
    auto user = rails_session::find_user(session.session, keys_);
    if (!user.ok()) return auth_result::bad(std::move(user.reason));
    return auth_result::ok(std::move(user.user), session.expires_at_ms);
}

}  // namespace gw::auth
