#pragma once
// Server-Sent Events framing. Pure functions; safe from any thread.
#include <chrono>
#include <string>
#include <string_view>

namespace gw::sse {

// "id: <id>\nevent: <event>\ndata: <line>\n...\n\n". The data is split at every
// line terminator SSE recognises (\r\n, \r, \n) into its own "data:" line, so the
// browser's reassembly (lines joined with \n) gives back the text. An empty
// event name writes no "event:" line: the browser's "message" event.
std::string frame_event(std::string_view id, std::string_view event, std::string_view data);

// The first bytes of every stream: the reconnect hint and a comment that makes
// proxies flush the headers at once.
std::string preamble(std::chrono::milliseconds retry);

// A comment line that keeps idle connections (and the proxies between) alive.
inline constexpr std::string_view heartbeat = ": hb\n\n";

// True when the text can be an SSE field value (no line terminators).
bool is_single_line(std::string_view text);

}  // namespace gw::sse
