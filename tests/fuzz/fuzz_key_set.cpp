// Key-set loading (gateway/auth/jwks and jwt_key::from_pem) on hostile sets: what a
// --jwt-jwks file, a --jwt-jwks-url body or a --jwt-public-key file may hold.
//
// Input: byte 0 -- bits 0-1 the reader:
//  0, 3: the rest is a JWKS (parse_jwks);
//  1: the rest is PEM text for RS256, 2: the same for ES256 (jwt_key::from_pem);
// then the keys read are handed to a verifier, which checks a fixed token naming
// the kid "k" and one naming none.
//
// Checked: no crash, leak or UB; only std::invalid_argument is thrown; a JWKS that
// parses accounts for every entry of its "keys" array (kept + skipped + refused),
// keeps at least one key, keeps each (alg, kid) once, and gives each refused key a
// short reason that names no key material; PEM text gives at least one key, all of
// the asked algorithm and without a kid; a verifier over the keys refuses the
// tokens (nobody here holds a private key) with bad_signature or unknown_kid.
#include "auth/json_object.hpp"
#include "auth/jwks.hpp"
#include "auth/jwt_verifier.hpp"
#include "fuzz_support.hpp"

#include <openssl/err.h>
#include <rapidjson/document.h>

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace gw::auth;
using gw::fuzz::as_text;

// {"alg":"RS256","kid":"k"} and {"alg":"ES256"} over {"sub":"7"}, with junk signatures
// of each algorithm's size.
constexpr std::string_view rs256_token =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiI3In0."
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-P0BBQkNERUZHSElKS0xNTk9Q"
    "UVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn-AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6Ch"
    "oqOkpaanqKmqq6ytrq-wsbKztLW2t7i5uru8vb6_wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t_g4eLj5OXm5-jp6uvs7e7v8PHy"
    "8_T19vf4-fr7_P3-_w";
constexpr std::string_view es256_token =
    "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiI3In0."
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-Pw";

// The number of entries of the "keys" array when text is a JSON object that has
// one; nullopt otherwise.
std::optional<std::size_t> entries(std::string_view text) {
    rapidjson::Document doc;
    if (!parse_json(text, doc) || !doc.IsObject()) return std::nullopt;
    const auto keys = doc.FindMember("keys");
    if (keys == doc.MemberEnd() || !keys->value.IsArray()) return std::nullopt;
    return keys->value.Size();
}

void check_verifier(std::vector<jwt_key> keys) {
    jwt_verifier::options o;
    o.alg.clear();
    o.keys = std::move(keys);
    const jwt_verifier v(std::move(o));
    for (const auto token : {rs256_token, es256_token}) {
        const auto r = v.verify(token, 1700000000);
        fuzz_check(!r.ok());
        fuzz_check(r.why == reason::bad_signature || r.why == reason::unknown_kid || r.why == reason::bad_alg);
    }
}

void check_jwks(std::string_view text) {
    jwks_keys set;
    try {
        set = parse_jwks(text);
    } catch (const std::invalid_argument& e) {
        fuzz_check(std::string_view(e.what()).size() < 120);
        return;
    }
    const auto n = entries(text);
    fuzz_check(n.has_value());
    fuzz_check(set.keys.size() + set.skipped + set.refused.size() == *n);
    fuzz_check(!set.keys.empty());
    std::set<std::pair<jwt_alg, std::string>> kids;
    for (const auto& k : set.keys) {
        fuzz_check(k.alg() == jwt_alg::rs256 || k.alg() == jwt_alg::es256);
        if (!k.kid().empty()) fuzz_check(kids.emplace(k.alg(), k.kid()).second);
    }
    for (const auto& r : set.refused) fuzz_check(!r.why.empty() && r.why.size() < 100);
    check_verifier(std::move(set.keys));
}

void check_pem(jwt_alg alg, std::string_view text) {
    std::vector<jwt_key> keys;
    try {
        keys = jwt_key::from_pem(alg, text);
    } catch (const std::invalid_argument& e) {
        fuzz_check(std::string_view(e.what()).size() < 160);
        return;
    }
    fuzz_check(!keys.empty());
    for (const auto& k : keys) fuzz_check(k.alg() == alg && k.kid().empty());
    check_verifier(std::move(keys));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return -1;
    const auto text = as_text(data + 1, size - 1);
    switch (data[0] & 3) {
        case 1:
            check_pem(jwt_alg::rs256, text);
            break;
        case 2:
            check_pem(jwt_alg::es256, text);
            break;
        default:
            check_jwks(text);
            break;
    }
    // Whatever a refused key left on this thread's OpenSSL error queue goes with it.
    ERR_clear_error();
    return 0;
}
