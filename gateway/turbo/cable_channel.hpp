#pragma once
// The PostgreSQL channel Rails' Action Cable adapter (adapter: postgresql) uses for
// a broadcasting: cable.yml's channel_prefix, when set, joined to the name with
// ":"; then, past 63 characters, the SHA1 hex of the whole
// (ActionCable::SubscriptionAdapter::PostgreSQL#channel_identifier: Ruby's
// String#size counts characters). A name of at most 63 characters but more than 63
// bytes is NOTIFYed under what PostgreSQL makes of it: cut to 63 bytes at a
// character boundary (a UTF8 database). So `broadcasts_to` calls reach the
// gateway's LISTEN unchanged. (Rails' own listener misses those names: it looks the
// cut name up under the whole one.)
// Thread rule: a pure function.
#include <optional>
#include <string>
#include <string_view>

namespace gw::turbo {

// prefix: nullopt when cable.yml sets none (an empty prefix still joins: ":name").
std::string cable_channel(const std::optional<std::string>& prefix, std::string_view broadcasting);

}  // namespace gw::turbo
