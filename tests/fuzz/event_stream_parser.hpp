#pragma once
// A browser's reading of a text/event-stream, written from the WHATWG HTML
// standard's "Interpreting an event stream" (section 9.2.6), not from our framer:
// the oracle the payload target checks sse::frame_event and hub::event_framer
// against.
//
//  * a leading U+FEFF BOM is dropped;
//  * lines end at CRLF, LF or CR; a last line without a terminator is discarded;
//  * an empty line dispatches: data without its last LF, type "message" unless
//    an event field named one, and the last event id is kept across events; with
//    an empty data buffer nothing is dispatched;
//  * a line starting with ':' is a comment; otherwise the field name runs to the
//    first ':' (the whole line when there is none) and one leading space of the
//    value is dropped;
//  * fields: event, data (appended with an LF), id (ignored when it contains
//    NUL), retry (only ASCII digits); anything else is ignored.
// Bytes are kept as bytes (the browser decodes UTF-8 first; nothing here depends
// on it). Thread rule: a plain value type.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::fuzz {

struct browser_event {
    std::string type;
    std::string data;
    std::string last_event_id;
};

struct event_stream_reading {
    std::vector<browser_event> events;
    std::optional<std::string> retry;  // the last valid retry value
};

inline event_stream_reading read_event_stream(std::string_view stream) {
    event_stream_reading out;
    std::string data, type, last_id_buffer, last_id;
    if (stream.substr(0, 3) == "\xEF\xBB\xBF") stream.remove_prefix(3);

    auto field = [&](std::string_view name, std::string_view value) {
        if (name == "event") {
            type = value;
        } else if (name == "data") {
            data.append(value).push_back('\n');
        } else if (name == "id") {
            if (value.find('\0') == std::string_view::npos) last_id_buffer = value;
        } else if (name == "retry") {
            if (!value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos)
                out.retry = std::string(value);
        }
    };
    auto dispatch = [&] {
        last_id = last_id_buffer;
        if (data.empty()) {
            type.clear();
            return;
        }
        data.pop_back();  // the LF after the last data line
        out.events.push_back({type.empty() ? "message" : type, data, last_id});
        data.clear();
        type.clear();
    };

    std::size_t pos = 0;
    for (;;) {
        const auto end = stream.find_first_of("\r\n", pos);
        if (end == std::string_view::npos) break;  // an unterminated line: discarded at EOF
        const auto line = stream.substr(pos, end - pos);
        pos = end + 1;
        if (stream[end] == '\r' && pos < stream.size() && stream[pos] == '\n') ++pos;

        if (line.empty()) {
            dispatch();
        } else if (line.front() == ':') {
            continue;
        } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
            auto value = line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            field(line.substr(0, colon), value);
        } else {
            field(line, {});
        }
    }
    return out;
}

}  // namespace gw::fuzz
