#include "payload_rule.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace gw {

namespace {

bool is_json_object(std::string_view text) {
    // Cheap pre-check: plain statuses like "approved" never pay for a parse.
    auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || text[first] != '{') return false;
    // A strict parse: trailing bytes after the object make the payload plain text.
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    return !doc.HasParseError() && doc.IsObject();
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
    rapidjson::Document doc;
    doc.Parse(payload.data(), payload.size());
    if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
    auto it = doc.FindMember(rapidjson::Value(rapidjson::StringRef(field.data(), field.size())));
    if (it == doc.MemberEnd()) return std::nullopt;
    if (it->value.IsString()) return std::string(it->value.GetString(), it->value.GetStringLength());
    if (it->value.IsUint64()) return std::to_string(it->value.GetUint64());
    return std::nullopt;
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
