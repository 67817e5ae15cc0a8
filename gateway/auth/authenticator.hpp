#pragma once
// The identity interface: one implementation per mode (proxy header, JWT, Rails
// session). Thread rule: authenticate() is const and is called concurrently from
// every loop thread; implementations hold only immutable state after construction.
#include "auth/reason.hpp"
#include "net.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw::auth {

// What a mode sees of a request: headers, the raw target (path and query) and the
// TCP peer. Views are valid for the duration of authenticate() only.
struct request_context {
    const http::fields& headers;
    std::string_view target;
    net::ip::address peer;
};

enum class outcome {
    ok,              // user is set
    no_credentials,  // this mode found nothing to check; the next mode may
    forbidden,       // the caller is not allowed to speak for anyone (403)
    invalid,         // credentials were present and failed a check (401)
};

struct auth_result {
    outcome what = outcome::no_credentials;
    std::string user;           // set only when what == ok
    reason why = reason::none;  // set unless what == ok
    // When the credentials stop being valid (Unix time, ms): a stream opened with
    // them ends then. Unset: they do not expire (proxy header, tokens without exp).
    std::optional<std::int64_t> expires_at_ms;

    static auth_result ok(std::string user, std::optional<std::int64_t> expires_at_ms = std::nullopt) {
        return {outcome::ok, std::move(user), reason::none, expires_at_ms};
    }
    static auth_result none(reason r) { return {outcome::no_credentials, {}, r, {}}; }
    static auth_result deny(reason r) { return {outcome::forbidden, {}, r, {}}; }
    static auth_result bad(reason r) { return {outcome::invalid, {}, r, {}}; }
};

class authenticator {
public:
    virtual ~authenticator() = default;
    virtual std::string_view name() const = 0;
    virtual auth_result authenticate(const request_context& req) const = 0;
};

}  // namespace gw::auth
