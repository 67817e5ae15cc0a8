#pragma once
// The JSON the identity modes read (JWT header and claims, Rails session and its
// envelope): parsed iteratively with UTF-8 validated, and objects whose member
// names repeat refused.
//
// Why refuse duplicates: RapidJSON's FindMember returns the first of two equal
// names, PyJWT and JavaScript the last, so {"sub":"43","sub":"42"} would name a
// different user here than in the app that minted or reads it. RFC 7515 5.2 and
// RFC 7519 4 allow refusing such objects; we do, rather than depend on which
// duplicate a parser keeps.
// Thread rule: pure functions, any thread.
#include <rapidjson/document.h>

#include <string_view>

namespace gw::auth {

// Parses `text` into `doc`; false on a parse error. Iterative: a text of nothing
// but '[' does not recurse thousands of frames deep.
bool parse_json(std::string_view text, rapidjson::Document& doc);

// True when two members of the object `obj` have the same name (its own members
// only: nested objects are not looked into). False for a non-object.
bool has_duplicate_names(const rapidjson::Value& obj);

}  // namespace gw::auth
