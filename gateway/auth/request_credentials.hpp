#pragma once
// Where credentials travel in an HTTP request: the query string, the Cookie header
// and the Authorization header. Pure functions shared by the JWT and Rails-session
// modes; nothing here checks a credential, it only finds and unescapes it.
// Thread rule: stateless, callable from any thread.
#include "net.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace gw::auth {

// Percent-decodes s. With plus_is_space, '+' becomes ' ' (query strings,
// application/x-www-form-urlencoded); otherwise '+' is kept (cookie values).
// Returns nullopt for a '%' not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space);

// The raw (still escaped) value of the first query parameter called name in a
// request target such as "/path?a=1&access_token=x". Names are compared after
// decoding. nullopt when the parameter is absent; "" when present without a value.
std::optional<std::string_view> find_query_param(std::string_view target, std::string_view name);

// The raw value of the first cookie called name across every Cookie header
// (RFC 6265 pairs separated by ';', optional spaces, a value optionally in double
// quotes, which are removed). The value is returned still URL-encoded.
std::optional<std::string_view> find_cookie(const http::fields& headers, std::string_view name);

// The token of "Authorization: Bearer <token>" (scheme case-insensitive).
// nullopt when the header is absent, uses another scheme, or carries no token.
std::optional<std::string_view> find_bearer_token(const http::fields& headers);

}  // namespace gw::auth
