#pragma once
// The payload rule: what a NOTIFY payload becomes as SSE data. A payload that is a
// JSON object is passed through unchanged; anything else is plain text wrapped as
// {"<wrap_field>": "<payload>"} with RapidJSON escaping quotes and control bytes.
// Pure function; safe from any thread.
#include <optional>
#include <string>
#include <string_view>

namespace gw {

std::string event_data(std::string_view payload, std::string_view wrap_field);

// Shared-channel mode: the user id a JSON-object payload names in `field` (a
// string, or a non-negative integer in decimal); nullopt when there is none.
std::optional<std::string> user_in_payload(std::string_view payload, std::string_view field);

// {"error": code, "message": message} for HTTP error bodies.
std::string error_body(std::string_view code, std::string_view message);

}  // namespace gw
