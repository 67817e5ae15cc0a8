#include "auth/proxy_header.hpp"

#include <openssl/crypto.h>

namespace gw::auth {

proxy_header::proxy_header(std::string user_header, std::string secret_header, std::string secret,
                           network_list networks)
    : user_header_(std::move(user_header)),
      secret_header_(std::move(secret_header)),
      secret_(std::move(secret)),
      networks_(std::move(networks)) {}

auth_result proxy_header::authenticate(const request_context& req) const {
    const auto users = req.headers.count(user_header_);
    const auto secrets = req.headers.count(secret_header_);
    // Nothing a proxy would send: another mode (a token, a cookie) may apply.
    if (users == 0 && secrets == 0) return auth_result::none("missing_credentials");
    // A proxy that appends instead of replacing would let the browser pick a user.
    if (users > 1 || secrets > 1) return auth_result::deny("duplicate_header");
    if (!networks_.allows(req.peer)) return auth_result::deny("untrusted_source");
    if (!secret_.empty()) {
        auto it = req.headers.find(secret_header_);
        if (it == req.headers.end()) return auth_result::deny("missing_secret");
        auto given = it->value();
        // Lengths are not secret; the bytes are compared in constant time.
        if (given.size() != secret_.size() ||
            CRYPTO_memcmp(given.data(), secret_.data(), secret_.size()) != 0)
            return auth_result::deny("bad_secret");
    }
    auto it = req.headers.find(user_header_);
    if (it == req.headers.end()) return auth_result::none("missing_user");
    return auth_result::ok(std::string(it->value()));
}

}  // namespace gw::auth
