// The JWT verifier (gateway/auth/jwt_verifier) on hostile tokens.
//
// Input: byte 0 picks the verifier -- bits 0-1 the algorithm (HS256, RS256,
// ES256, HS256), bit 2 an audience, bit 3 an issuer, bit 4 require_exp, bit 5
// the claim "uid" instead of "sub" -- and bit 6 the mode:
//  * clear: the rest is the token as a browser would send it;
//  * set: the rest is "<header JSON>\0<claims JSON>", and the target signs it
//    with the HS256 secret (the fuzzer cannot forge an HMAC, so this is how its
//    JSON reaches the claim checks).
// The HS256 secret and the fixed "now" are tests/support/make_auth_fixtures.sh's,
// so its PyJWT tokens are seeds; RS256/ES256 use the public keys in keys/.
//
// Checked: no crash, leak or UB; every refusal is one of the documented reason
// codes; an accepted token names a non-empty user; a token we signed is never
// refused as bad_signature, and is accepted exactly when a reading of its JSON
// against the contract (alg, crit, exp, nbf, aud, iss, duplicate names, the
// claim) says it should be, with the same user. The
// strict base64url decoder gives back exactly the text each decoded part encodes.
#include "auth/json_object.hpp"
#include "auth/jwt_verifier.hpp"
#include "fuzz_codec.hpp"
#include "fuzz_support.hpp"

#include <openssl/evp.h>
#include <rapidjson/document.h>

#include <array>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>

namespace {

using gw::auth::jwt_verifier;
using gw::fuzz::as_text;

constexpr std::int64_t fixture_now = 1700000000;
constexpr const char* hs256_secret = "fixture-hs256-secret-0123456789abcdef";

std::string read_key(const char* name) {
    std::ifstream in(std::string(GW_FUZZ_KEY_DIR) + "/" + name, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.empty()) gw::fuzz::fail("cannot read a key from " GW_FUZZ_KEY_DIR, __FILE__, __LINE__);
    return text;
}

// One verifier per configuration byte (bits 0-5), built on first use.
const jwt_verifier& verifier_for(std::uint8_t config) {
    static std::array<std::unique_ptr<jwt_verifier>, 64> made;
    auto& v = made[config & 63];
    if (!v) {
        static const std::string rsa = read_key("rsa_public.pem"), ec = read_key("ec_public.pem");
        jwt_verifier::options o;
        switch (config & 3) {
            case 1:
                o.alg = "RS256", o.key = rsa;
                break;
            case 2:
                o.alg = "ES256", o.key = ec;
                break;
            default:
                o.alg = "HS256", o.key = hs256_secret;
                break;
        }
        if (config & 4) o.audience = "sse-gateway";
        if (config & 8) o.issuer = "https://app.example";
        o.require_exp = (config & 16) != 0;
        if (config & 32) o.claim = "uid";
        v = std::make_unique<jwt_verifier>(std::move(o));
    }
    return *v;
}

using gw::auth::reason;
const std::set<reason> reasons = {
    reason::malformed,     reason::too_large,    reason::bad_alg,       reason::bad_signature,
    reason::expired,       reason::not_yet_valid, reason::missing_exp,  reason::bad_audience,
    reason::bad_issuer,    reason::missing_claim, reason::bad_claim,    reason::duplicate_member,
};

// What RFC 7519 and the verifier's contract (jwt_verifier.hpp) say a token signed
// here must give, read from the JSON on its own: the user, or nullopt for any
// refusal. Written from the contract, not from the verifier's code; the JSON
// reader is the verifier's own (auth/json_object: the parse is not under test
// here, the decisions are).
bool parse_object(std::string_view text, rapidjson::Document& doc) {
    if (!gw::auth::parse_json(text, doc) || !doc.IsObject()) return false;
    for (auto a = doc.MemberBegin(); a != doc.MemberEnd(); ++a)
        for (auto b = a + 1; b != doc.MemberEnd(); ++b)
            if (a->name == b->name) return false;  // a name twice: refused
    return true;
}

bool is_text(const rapidjson::Value* v, std::string_view s) {
    return v && v->IsString() && std::string_view(v->GetString(), v->GetStringLength()) == s;
}

std::optional<std::string> expected_user(std::uint8_t config, std::string_view header_json,
                                         std::string_view claims_json) {
    constexpr double leeway = 30, now = fixture_now;
    rapidjson::Document header, claims;
    if (!parse_object(header_json, header) || !parse_object(claims_json, claims)) return std::nullopt;
    auto member = [](const rapidjson::Value& obj, const char* name) -> const rapidjson::Value* {
        const auto it = obj.FindMember(name);
        return it == obj.MemberEnd() ? nullptr : &it->value;
    };
    if (!is_text(member(header, "alg"), "HS256") || member(header, "crit")) return std::nullopt;
    // A kid must be a string; the one key has none, so any kid falls back to it.
    if (const auto* kid = member(header, "kid"); kid && !kid->IsString()) return std::nullopt;

    const auto* exp = member(claims, "exp");
    if (exp && !(exp->IsNumber() && now < exp->GetDouble() + leeway)) return std::nullopt;
    if (!exp && (config & 16)) return std::nullopt;
    if (const auto* nbf = member(claims, "nbf"); nbf && !(nbf->IsNumber() && now + leeway >= nbf->GetDouble()))
        return std::nullopt;

    const auto* aud = member(claims, "aud");
    if (config & 4) {
        bool named = is_text(aud, "sse-gateway");
        if (aud && aud->IsArray())
            for (const auto& a : aud->GetArray()) named = named || is_text(&a, "sse-gateway");
        if (!named) return std::nullopt;
    } else if (aud) {
        return std::nullopt;
    }
    if ((config & 8) && !is_text(member(claims, "iss"), "https://app.example")) return std::nullopt;

    const auto* user = member(claims, (config & 32) ? "uid" : "sub");
    if (!user) return std::nullopt;
    if (user->IsString() && user->GetStringLength() > 0) return std::string(user->GetString(), user->GetStringLength());
    if (user->IsInt64()) return std::to_string(user->GetInt64());
    if (user->IsUint64()) return std::to_string(user->GetUint64());
    return std::nullopt;
}

void check_base64url(std::string_view part) {
    if (const auto bytes = jwt_verifier::decode_base64url(part)) fuzz_check(gw::fuzz::base64url(*bytes) == part);
    fuzz_check(jwt_verifier::decode_base64url(gw::fuzz::base64url(part)) == std::string(part));
}

void check(std::uint8_t config, std::string_view rest) {
    const auto& v = verifier_for(config);
    const bool signed_here = (config & 64) != 0;
    std::string token;
    std::string_view header_json, claims_json;
    if (signed_here) {
        const auto nul = rest.find('\0');
        if (nul == std::string_view::npos) return;
        header_json = rest.substr(0, nul);
        claims_json = rest.substr(nul + 1);
        token = gw::fuzz::base64url(rest.substr(0, nul)) + "." + gw::fuzz::base64url(claims_json);
        token += "." + gw::fuzz::base64url(gw::fuzz::hmac(EVP_sha256(), hs256_secret, token));
    } else {
        token = rest;
    }

    const auto r = v.verify(token, fixture_now);
    if (!r.ok()) {
        fuzz_check(reasons.count(r.why) == 1);
        fuzz_check(r.user.empty());
        if (signed_here && (config & 3) != 1 && (config & 3) != 2) {
            fuzz_check(r.why != reason::bad_signature);
            if (token.size() <= jwt_verifier::max_token_size) fuzz_check(r.why != reason::too_large);
        }
    } else {
        fuzz_check(!r.user.empty());
        fuzz_check(!r.expires_at_ms || *r.expires_at_ms > fixture_now * 1000);
    }
    // A token signed here for the HS256 verifier: accepted exactly when the
    // contract says so, naming the same user.
    if (signed_here && (config & 3) != 1 && (config & 3) != 2 && token.size() <= jwt_verifier::max_token_size) {
        const auto expected = expected_user(config, header_json, claims_json);
        if (expected != (r.ok() ? std::optional<std::string>(r.user) : std::nullopt))
            std::fprintf(stderr, "verifier: %s, contract: %s\n", r.ok() ? r.user.c_str() : std::string(gw::auth::to_string(r.why)).c_str(),
                         expected ? expected->c_str() : "refuse");
        fuzz_check(expected == (r.ok() ? std::optional<std::string>(r.user) : std::nullopt));
    }

    // Each dot-separated part through the decoder on its own.
    std::string_view t = token;
    for (std::size_t dot; (dot = t.find('.')) != std::string_view::npos; t.remove_prefix(dot + 1))
        check_base64url(t.substr(0, dot));
    check_base64url(t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || size > 3 * jwt_verifier::max_token_size) return -1;
    check(data[0], as_text(data + 1, size - 1));
    return 0;
}
