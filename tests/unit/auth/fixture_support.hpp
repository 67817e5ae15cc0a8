#pragma once
// Loads the credentials written by tests/support/make_auth_fixtures.sh (PyJWT
// tokens, ActiveSupport cookies) from $SSE_GATEWAY_AUTH_FIXTURES. CTest runs the
// generator first (fixture "auth_fixtures") and sets the variable.
#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace gw::auth::test {

inline std::string fixture_path(const std::string& name) {
    const char* dir = std::getenv("SSE_GATEWAY_AUTH_FIXTURES");
    if (!dir || !*dir)
        FAIL("SSE_GATEWAY_AUTH_FIXTURES is not set: run tests/support/make_auth_fixtures.sh DIR and point it there");
    return std::string(dir) + "/" + name;
}

inline std::string read_fixture(const std::string& name) {
    const auto path = fixture_path(name);
    std::ifstream in(path, std::ios::binary);
    if (!in) FAIL("cannot read fixture " << path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The "cases" array of a manifest; the document owns it.
inline const rapidjson::Value& fixture_cases(rapidjson::Document& doc, const std::string& manifest) {
    const auto text = read_fixture(manifest);
    doc.Parse(text.data(), text.size());
    REQUIRE_FALSE(doc.HasParseError());
    REQUIRE(doc.IsObject());
    REQUIRE(doc.HasMember("cases"));
    REQUIRE(doc["cases"].IsArray());
    REQUIRE(doc["cases"].Size() > 0);
    return doc["cases"];
}

inline std::string str(const rapidjson::Value& obj, const char* key) {
    const auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsString()) return {};
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

inline bool starts_with_any(const std::string& s, std::initializer_list<const char*> prefixes) {
    for (const char* p : prefixes)
        if (s.rfind(p, 0) == 0) return true;
    return false;
}

}  // namespace gw::auth::test
