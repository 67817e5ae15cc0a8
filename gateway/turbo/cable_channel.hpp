#pragma once
// The PostgreSQL channel Rails' Action Cable adapter (adapter: postgresql) uses for
// a broadcasting: cable.yml's channel_prefix, when set, joined to the name with
// ":"; then, past PostgreSQL's 63-byte identifier limit, the SHA1 hex of the whole
// (ActionCable::SubscriptionAdapter::PostgreSQL#channel_identifier, which counts
// bytes). So `broadcasts_to` calls reach the gateway's LISTEN unchanged.
// Thread rule: a pure function.
#include <optional>
#include <string>
#include <string_view>

namespace gw::turbo {

// prefix: nullopt when cable.yml sets none (an empty prefix still joins: ":name").
std::string cable_channel(const std::optional<std::string>& prefix, std::string_view broadcasting);

}  // namespace gw::turbo
