#pragma once
// Proxy-header mode: the app's reverse proxy has authenticated the browser and
// names the user in a header. The header is trusted only when the request also
// carries the shared secret (compared in constant time) and, if networks are
// configured, comes from one of them. A request with neither header is not
// this mode's business (no_credentials), so a token or cookie mode may follow; a
// repeated user or secret header is refused. Thread rule: immutable after construction.
#include "auth/authenticator.hpp"
#include "auth/network_list.hpp"

namespace gw::auth {

class proxy_header final : public authenticator {
public:
    // An empty secret is allowed only when the caller has decided the insecure
    // development mode is acceptable (config validation enforces that).
    proxy_header(std::string user_header, std::string secret_header, std::string secret,
                 network_list networks);

    std::string_view name() const override { return "proxy-header"; }
    auth_result authenticate(const request_context& req) const override;

private:
    std::string user_header_;
    std::string secret_header_;
    std::string secret_;
    network_list networks_;
};

}  // namespace gw::auth
