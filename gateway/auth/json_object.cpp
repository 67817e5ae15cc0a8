#include "auth/json_object.hpp"

#include <algorithm>
#include <vector>

namespace gw::auth {

bool parse_json(std::string_view text, rapidjson::Document& doc) {
    constexpr unsigned flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
    doc.Parse<flags>(text.data(), text.size());
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
