#include "payload_rule.hpp"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace gw {

namespace {

// Both checks below run for every NOTIFY in shared mode, so they read the payload
// with RapidJSON's SAX reader: no document, no 64 KiB allocator chunk per event.

// Accepts any well-formed JSON text; the caller checks the first character.
struct any_json : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, any_json> {};

// Finds the top-level member named `field`; a non-negative integer or a string
// value is the user. A payload naming the field twice routes to nobody: the
// browser's JSON.parse would read the last, a DOM lookup the first, and the event
// must not reach one user while saying it is another's.
struct user_field : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, user_field> {
    std::string_view field;
    int depth = 0;
    bool next_is_it = false;  // the value after the key we look for
    bool seen = false;        // such a member was seen
    bool twice = false;       // ... and then another
    std::optional<std::string> user;

    explicit user_field(std::string_view f) : field(f) {}
    bool value(std::optional<std::string> v) {
        if (next_is_it) user = std::move(v);
        next_is_it = false;
        return true;
    }
    bool Default() { return value(std::nullopt); }
    bool Uint(unsigned u) { return value(std::to_string(u)); }
    bool Uint64(std::uint64_t u) { return value(std::to_string(u)); }
    bool String(const char* s, rapidjson::SizeType n, bool) { return value(std::string(s, n)); }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        next_is_it = depth == 1 && std::string_view(s, n) == field;
        twice = twice || (seen && next_is_it);
        seen = seen || next_is_it;
        return true;
    }
    bool StartObject() {
        value(std::nullopt);
        return ++depth, true;
    }
    bool EndObject(rapidjson::SizeType) { return --depth, true; }
    bool StartArray() {
        value(std::nullopt);
        return ++depth, true;
    }
    bool EndArray(rapidjson::SizeType) { return --depth, true; }
};

// Cheap pre-check: plain statuses like "approved" never pay for a parse.
bool opens_object(std::string_view text) {
    auto first = text.find_first_not_of(" \t\r\n");
    return first != std::string_view::npos && text[first] == '{';
}

// Iterative: any database role may NOTIFY any channel, and a payload of a few
// thousand '[' must not recurse that many frames deep on a loop thread's stack
// (the recursive reader overflowed a 256 KiB thread stack at depth ~8,000).
template <typename Handler>
bool parse(std::string_view text, Handler& h) {
    rapidjson::MemoryStream ms(text.data(), text.size());
    rapidjson::Reader reader;
    return !reader.Parse<rapidjson::kParseIterativeFlag>(ms, h).IsError();
}

bool is_json_object(std::string_view text) {
    if (!opens_object(text)) return false;
    // A strict parse: trailing bytes after the object make the payload plain text.
    any_json h;
    return parse(text, h);
}

void put(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

}  // namespace

std::string event_data(std::string_view payload, std::string_view wrap_field) {
    if (is_json_object(payload)) return std::string(payload);
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    put(w, wrap_field);
    put(w, payload);
    w.EndObject();
    return {sb.GetString(), sb.GetSize()};
}

std::optional<std::string> user_in_payload(std::string_view payload, std::string_view field) {
    if (!opens_object(payload)) return std::nullopt;
    user_field h(field);
    if (!parse(payload, h) || h.twice) return std::nullopt;
    return std::move(h.user);
}

std::string error_body(std::string_view code, std::string_view message) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    put(w, "error");
    put(w, code);
    put(w, "message");
    put(w, message);
    w.EndObject();
    return {sb.GetString(), sb.GetSize()};
}

}  // namespace gw
