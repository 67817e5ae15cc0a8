#pragma once
// Mode "jwt": the browser presents a JWT minted by the app. The token is taken
// from the first of these that is present: the "access_token" query parameter
// (percent-decoded; EventSource cannot set headers), the configured cookie, then
// "Authorization: Bearer". Only that one token is checked. No token at all is
// none(reason::missing_token); a token that fails is bad(<jwt_verifier reason>).
//
// The keys come from two sources that change independently: `files` (secrets and
// PEM keys from flags and files, and a JWKS file; replaced on a reload) and
// `remote` (a JWKS URL; replaced after each fetch). Either replacement builds a
// new verifier over both and publishes it; a request being checked finishes with
// the verifier it began with.
// Thread rule: authenticate() and set_keys() run concurrently from any thread;
// on_unknown_kid() is set before serving.
#include "auth/authenticator.hpp"
#include "auth/jwt_verifier.hpp"
#include "auth/published.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace gw::auth {

class jwt_auth final : public authenticator {
public:
    enum class key_source { files, remote };

    // The policy (audience, issuer, claim, leeway) and the first `files` keys, as
    // jwt_verifier takes them (and throws for). cookie_name may be empty: then no
    // cookie is consulted.
    jwt_auth(jwt_verifier::options opts, std::string cookie_name);

    std::string_view name() const override { return "jwt"; }
    // Uses std::chrono::system_clock for "now".
    auth_result authenticate(const request_context& req) const override;
    // The same with an explicit clock reading (seconds since the epoch), for tests.
    auth_result authenticate_at(const request_context& req, std::int64_t now_unix) const;

    // Replaces the keys of one source and puts the new verifier in force.
    void set_keys(key_source source, std::vector<jwt_key> keys);
    // Keys in force from both sources.
    std::size_t key_count() const { return verifier_.get()->keys().size(); }

    // Called on the authenticating thread when a token names a kid no key carries
    // (so a JWKS URL can be fetched again); must be cheap and thread-safe.
    void on_unknown_kid(std::function<void()> f) { unknown_kid_ = std::move(f); }

private:
    jwt_verifier::options policy_;  // without keys
    std::string cookie_name_;
    std::mutex keys_mutex_;  // serialises set_keys(); readers never take it
    std::vector<jwt_key> files_;
    std::vector<jwt_key> remote_;
    published<jwt_verifier> verifier_;
    std::function<void()> unknown_kid_;
};

}  // namespace gw::auth
