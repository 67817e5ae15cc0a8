#include "auth/json_object.hpp"

#include <rapidjson/memorystream.h>

#include <algorithm>
#include <vector>

namespace gw::auth {

bool parse_json(std::string_view text, rapidjson::Document& doc) {
    constexpr unsigned flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
    // Through a plain MemoryStream: Document::Parse(str, length) wraps its input in
    // an EncodedInputStream that drops the BOM's bytes EF BB BF from the front of
    // the text, each one alone, so "\xBF{...}" would read as an object. JSON.parse,
    // PyJWT and Ruby refuse those bytes; so do we.
    rapidjson::MemoryStream ms(text.data(), text.size());
    doc.ParseStream<flags, rapidjson::UTF8<>>(ms);
    return !doc.HasParseError();
}

bool has_duplicate_names(const rapidjson::Value& obj) {
    if (!obj.IsObject()) return false;
    // Sorting names is O(n log n); the objects read here have a handful of members,
    // but a token could carry thousands, so no pairwise comparison.
    std::vector<std::string_view> names;
    names.reserve(obj.MemberCount());
    for (const auto& m : obj.GetObject()) names.emplace_back(m.name.GetString(), m.name.GetStringLength());
    std::sort(names.begin(), names.end());
    return std::adjacent_find(names.begin(), names.end()) != names.end();
}

}  // namespace gw::auth
