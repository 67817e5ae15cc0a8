#pragma once
// The `action-cable` payload mode: what an Action Cable broadcast becomes as SSE
// data. Rails' PostgreSQL adapter (and Solid Cable) carry a broadcast as
// ActiveSupport::JSON.encode(message). Turbo Streams broadcast a String of HTML,
// so the payload is a JSON string ("\u003cturbo-stream ...") whose decoded text is
// what <turbo-stream-source> must receive. Any other JSON value (a Hash broadcast
// by an app's own channel) is sent as its JSON text, unchanged; a payload that is
// not JSON at all is sent as it is.
// Pure function; safe from any thread.
#include <string>
#include <string_view>

namespace gw {

std::string action_cable_text(std::string_view payload);

}  // namespace gw
