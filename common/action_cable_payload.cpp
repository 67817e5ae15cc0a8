#include "action_cable_payload.hpp"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace gw {

namespace {

// Keeps the value when the whole text is one JSON string; any other token fails
// the parse, which is cheaper than building a document for a 4 KiB HTML payload.
struct only_string : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, only_string> {
    std::string text;
    bool Default() { return false; }
    bool String(const char* s, rapidjson::SizeType n, bool) {
        text.assign(s, n);
        return true;
    }
};

}  // namespace

std::string action_cable_text(std::string_view payload) {
    const auto first = payload.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || payload[first] != '"') return std::string(payload);
    // A plain MemoryStream: no encoding detection, so a BOM or other leading bytes
    // make the payload "not JSON", as the browser's JSON.parse would say.
    rapidjson::MemoryStream ms(payload.data(), payload.size());
    rapidjson::Reader reader;
    only_string handler;
    if (!reader.Parse<rapidjson::kParseValidateEncodingFlag>(ms, handler)) return std::string(payload);
    return std::move(handler.text);
}

}  // namespace gw
