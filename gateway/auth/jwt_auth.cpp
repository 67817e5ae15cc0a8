#include "auth/jwt_auth.hpp"

#include "auth/request_credentials.hpp"

#include <chrono>
#include <optional>

namespace gw::auth {

namespace {

constexpr std::string_view query_param = "access_token";

}  // namespace

namespace {

jwt_verifier::options without_keys(jwt_verifier::options o) {
    o.alg.clear();
    o.key.clear();
    o.keys.clear();
    return o;
}

}  // namespace

jwt_auth::jwt_auth(jwt_verifier::options opts, std::string cookie_name)
    : policy_(without_keys(opts)),
      cookie_name_(std::move(cookie_name)),
      verifier_(std::make_shared<const jwt_verifier>(std::move(opts))) {
    files_ = verifier_.get()->keys();
}

void jwt_auth::set_keys(key_source source, std::vector<jwt_key> keys) {
    std::lock_guard lock(keys_mutex_);
    (source == key_source::files ? files_ : remote_) = std::move(keys);
    auto opts = policy_;
    opts.keys = files_;
    opts.keys.insert(opts.keys.end(), remote_.begin(), remote_.end());
    verifier_.set(std::make_shared<const jwt_verifier>(std::move(opts)));
}

auth_result jwt_auth::authenticate(const request_context& req) const {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return authenticate_at(req, std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

auth_result jwt_auth::authenticate_at(const request_context& req, std::int64_t now_unix) const {
    std::optional<std::string_view> raw;
    bool plus_is_space = false;
    if (auto q = find_query_param(req.target, query_param); q && !q->empty()) {
        raw = q;
        plus_is_space = true;
    } else if (auto c = cookie_name_.empty() ? std::nullopt : find_cookie(req.headers, cookie_name_);
               c && !c->empty()) {
        raw = c;
    } else {
        raw = find_bearer_token(req.headers);
    }
    if (!raw) return auth_result::none(reason::missing_token);

    // Escaping at most triples the size; refuse anything larger before copying it.
    if (raw->size() > 3 * jwt_verifier::max_token_size) return auth_result::bad(reason::too_large);
    const auto token = percent_decode(*raw, plus_is_space);
    if (!token) return auth_result::bad(reason::malformed);

    auto r = verifier_.get()->verify(*token, now_unix);
    if (r.unknown_kid && unknown_kid_) unknown_kid_();
    if (!r.ok()) return auth_result::bad(r.why);
    return auth_result::ok(std::move(r.user), r.expires_at_ms);
}

}  // namespace gw::auth
