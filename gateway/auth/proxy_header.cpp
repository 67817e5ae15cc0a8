#include "auth/proxy_header.hpp"

#include <openssl/crypto.h>

#include <stdexcept>

namespace gw::auth {

namespace {

std::vector<std::string> one_or_none(std::string secret) {
    if (secret.empty()) return {};
    return {std::move(secret)};
}

void check_secrets(const std::vector<std::string>& secrets) {
    for (const auto& s : secrets)
        if (s.empty()) throw std::invalid_argument("a proxy secret is empty");
}

}  // namespace

proxy_header::proxy_header(std::string user_header, std::string secret_header, std::string secret,
                           network_list networks)
    : proxy_header(std::move(user_header), std::move(secret_header), one_or_none(std::move(secret)),
                   std::move(networks)) {}

proxy_header::proxy_header(std::string user_header, std::string secret_header, std::vector<std::string> secrets,
                           network_list networks)
    : user_header_(std::move(user_header)),
      secret_header_(std::move(secret_header)),
      networks_(std::move(networks)),
      secrets_((check_secrets(secrets), std::make_shared<const std::vector<std::string>>(std::move(secrets)))) {}

void proxy_header::set_secrets(std::vector<std::string> secrets) {
    if (secrets.empty()) throw std::invalid_argument("no proxy secret");
    check_secrets(secrets);
    secrets_.set(std::make_shared<const std::vector<std::string>>(std::move(secrets)));
}

auth_result proxy_header::authenticate(const request_context& req) const {
    const auto users = req.headers.count(user_header_);
    const auto secrets = req.headers.count(secret_header_);
    // Nothing a proxy would send: another mode (a token, a cookie) may apply.
    if (users == 0 && secrets == 0) return auth_result::none(reason::missing_credentials);
    // A proxy that appends instead of replacing would let the browser pick a user.
    if (users > 1 || secrets > 1) return auth_result::deny(reason::duplicate_header);
    if (!networks_.allows(req.peer)) return auth_result::deny(reason::untrusted_source);
    if (const auto secrets = secrets_.get(); !secrets->empty()) {
        auto it = req.headers.find(secret_header_);
        if (it == req.headers.end()) return auth_result::deny(reason::missing_secret);
        auto given = it->value();
        // Lengths are not secret; the bytes are compared in constant time, with
        // every configured secret, so the time taken does not say which one matched.
        bool match = false;
        for (const auto& secret : *secrets)
            match |= given.size() == secret.size() && CRYPTO_memcmp(given.data(), secret.data(), secret.size()) == 0;
        if (!match) return auth_result::deny(reason::bad_secret);
    }
    auto it = req.headers.find(user_header_);
    // An empty value is no user: a proxy that forwards an unset variable sends one.
    if (it == req.headers.end() || it->value().empty()) return auth_result::none(reason::missing_user);
    return auth_result::ok(std::string(it->value()));
}

}  // namespace gw::auth
