#pragma once
// Mode "jwt": the browser presents a JWT minted by the app. The token is taken
// from the first of these that is present: the "access_token" query parameter
// (percent-decoded; EventSource cannot set headers), the configured cookie, then
// "Authorization: Bearer". Only that one token is checked. No token at all is
// none("missing_token"); a token that fails is bad(<jwt_verifier reason>).
// Thread rule: immutable after construction; authenticate() runs concurrently.
#include "auth/authenticator.hpp"
#include "auth/jwt_verifier.hpp"

#include <cstdint>

namespace gw::auth {

class jwt_auth final : public authenticator {
public:
    // cookie_name may be empty: then no cookie is consulted.
    jwt_auth(jwt_verifier verifier, std::string cookie_name);

    std::string_view name() const override { return "jwt"; }
    // Uses std::chrono::system_clock for "now".
    auth_result authenticate(const request_context& req) const override;
    // The same with an explicit clock reading (seconds since the epoch), for tests.
    auth_result authenticate_at(const request_context& req, std::int64_t now_unix) const;

private:
    jwt_verifier verifier_;
    std::string cookie_name_;
};

}  // namespace gw::auth
