#pragma once
// Proxy-header mode: the app's reverse proxy has authenticated the browser and
// names the user in a header. The header is trusted only when the request also
// carries the shared secret (compared in constant time) and, if networks are
// configured, comes from one of them. A request with neither header is not
// this mode's business (no_credentials), so a token or cookie mode may follow; a
// repeated user or secret header is refused. Several secrets may be in force at
// once (while one rotates): any of them is accepted, the set replaced whole by
// set_secrets(). Thread rule: authenticate() and set_secrets() run concurrently
// from any thread; all else is immutable after construction.
#include "auth/authenticator.hpp"
#include "auth/network_list.hpp"
#include "auth/published.hpp"

#include <vector>

namespace gw::auth {

class proxy_header final : public authenticator {
public:
    // An empty secret is allowed only when the caller has decided the insecure
    // development mode is acceptable (config validation enforces that).
    proxy_header(std::string user_header, std::string secret_header, std::string secret, network_list networks);
    // Any of `secrets` is accepted; none means no secret is checked (the same
    // development-only decision as above). None of them may be empty.
    proxy_header(std::string user_header, std::string secret_header, std::vector<std::string> secrets,
                 network_list networks);

    // Throws std::invalid_argument for an empty list or an empty secret: a rotation
    // never turns the secret check off.
    void set_secrets(std::vector<std::string> secrets);

    std::string_view name() const override { return "proxy-header"; }
    auth_result authenticate(const request_context& req) const override;

private:
    std::string user_header_;
    std::string secret_header_;
    network_list networks_;
    published<std::vector<std::string>> secrets_;
};

}  // namespace gw::auth
