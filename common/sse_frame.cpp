#include "sse_frame.hpp"

namespace gw::sse {

std::string frame_event(std::string_view id, std::string_view event, std::string_view data) {
    std::string out;
    out.reserve(id.size() + event.size() + data.size() + 32);
    out.append("id: ").append(id).append("\n");
    // No "event:" line at all for an unnamed event: the browser dispatches it as "message".
    if (!event.empty()) out.append("event: ").append(event).append("\n");
    std::size_t pos = 0;
    for (;;) {
        auto end = data.find_first_of("\r\n", pos);
        out.append("data: ").append(data.substr(pos, end - pos)).append("\n");
        if (end == std::string_view::npos) break;
        pos = end + 1;
        if (data[end] == '\r' && pos < data.size() && data[pos] == '\n') ++pos;
    }
    out.append("\n");
    return out;
}

std::string preamble(std::chrono::milliseconds retry) {
    return "retry: " + std::to_string(retry.count()) + "\n: ok\n\n";
}

bool is_single_line(std::string_view text) {
    return text.find_first_of("\r\n") == std::string_view::npos;
}

}  // namespace gw::sse
