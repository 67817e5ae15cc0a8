#include "auth/jwt_verifier.hpp"

#include "auth/json_object.hpp"
#include "base64.hpp"

#include <openssl/err.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <stdexcept>

namespace gw::auth {

namespace {

enum class parsed { ok, malformed, duplicate };

// The header and the claims: one JSON object each, no member name twice.
parsed parse_object(const std::string& text, rapidjson::Document& doc) {
    if (!parse_json(text, doc) || !doc.IsObject()) return parsed::malformed;
    return has_duplicate_names(doc) ? parsed::duplicate : parsed::ok;
}

reason why(parsed p) {
    return p == parsed::duplicate ? reason::duplicate_member : reason::malformed;
}

enum class present { absent, ok, bad };

present numeric_date(const rapidjson::Value& obj, const char* name, double& out) {
    const auto it = obj.FindMember(name);
    if (it == obj.MemberEnd()) return present::absent;
    if (!it->value.IsNumber()) return present::bad;
    out = it->value.GetDouble();
    return present::ok;
}

bool string_equals(const rapidjson::Value& v, const std::string& s) {
    return v.IsString() && std::string_view(v.GetString(), v.GetStringLength()) == s;
}

}  // namespace

jwt_verifier::jwt_verifier(options opts)
    : audience_(std::move(opts.audience)),
      issuer_(std::move(opts.issuer)),
      claim_(std::move(opts.claim)),
      leeway_(opts.leeway),
      require_exp_(opts.require_exp) {
    if (leeway_ < 0) throw std::invalid_argument("JWT leeway must not be negative");
    if (claim_.empty()) throw std::invalid_argument("JWT user claim name is empty");
    if (!opts.alg.empty()) {
        const auto alg = parse_jwt_alg(opts.alg);
        if (!alg)
            throw std::invalid_argument("unsupported JWT algorithm '" + opts.alg + "' (use HS256, RS256 or ES256)");
        if (*alg == jwt_alg::hs256)
            keys_.push_back(jwt_key::hmac(std::move(opts.key)));
        else
            keys_ = jwt_key::from_pem(*alg, opts.key);
    } else if (!opts.key.empty()) {
        throw std::invalid_argument("a JWT key needs its algorithm");
    }
    keys_.insert(keys_.end(), std::make_move_iterator(opts.keys.begin()), std::make_move_iterator(opts.keys.end()));
}

std::optional<std::string> jwt_verifier::decode_base64url(std::string_view s) {
    return base64_decode_unpadded(s, base64_alphabet::url);
}

jwt_result jwt_verifier::verify(std::string_view token, std::int64_t now_unix) const {
    auto fail = [](reason r) { return jwt_result{{}, r, {}, false}; };
    if (token.size() > max_token_size) return fail(reason::too_large);

    const auto dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return fail(reason::malformed);
    const auto dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
        return fail(reason::malformed);
    const auto header_b64 = token.substr(0, dot1);
    const auto payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const auto sig_b64 = token.substr(dot2 + 1);
    if (header_b64.empty() || payload_b64.empty()) return fail(reason::malformed);

    const auto header_json = decode_base64url(header_b64);
    const auto payload_json = decode_base64url(payload_b64);
    const auto sig = decode_base64url(sig_b64);
    if (!header_json || !payload_json || !sig) return fail(reason::malformed);

    rapidjson::Document header;
    if (const auto p = parse_object(*header_json, header); p != parsed::ok) return fail(why(p));
    const auto alg_member = header.FindMember("alg");
    const auto alg = alg_member != header.MemberEnd() && alg_member->value.IsString()
                         ? parse_jwt_alg({alg_member->value.GetString(), alg_member->value.GetStringLength()})
                         : std::nullopt;
    if (!alg || std::none_of(keys_.begin(), keys_.end(), [&](const jwt_key& k) { return k.alg() == *alg; }))
        return fail(reason::bad_alg);
    // We implement no extensions, so any critical one makes the token unusable (RFC 7515 4.1.11).
    if (header.HasMember("crit")) return fail(reason::bad_alg);
    std::optional<std::string_view> kid;
    if (const auto k = header.FindMember("kid"); k != header.MemberEnd()) {
        if (!k->value.IsString()) return fail(reason::malformed);
        kid = std::string_view(k->value.GetString(), k->value.GetStringLength());
    }

    // The keys to try, as the header's contract above says.
    const bool kid_known = kid && std::any_of(keys_.begin(), keys_.end(),
                                              [&](const jwt_key& k) { return k.alg() == *alg && k.kid() == *kid; });
    const bool unknown_kid = kid && !kid_known;
    std::size_t tried = 0;
    bool verified = false;
    for (const auto& key : keys_) {
        if (key.alg() != *alg || (kid_known && key.kid() != *kid) || (unknown_kid && !key.kid().empty())) continue;
        if (tried == max_keys_tried) break;  // the bound on one token's work (see the header)
        ++tried;
        if (key.verify(token.substr(0, dot2), *sig)) {
            verified = true;
            break;
        }
    }
    if (!verified) {
        // A refused signature leaves entries on this thread's OpenSSL error queue;
        // clear them so they cannot be mistaken for a later, unrelated failure.
        ERR_clear_error();
        auto r = fail(tried > 0 ? reason::bad_signature : reason::unknown_kid);
        r.unknown_kid = unknown_kid;
        return r;
    }

    rapidjson::Document payload;
    if (const auto p = parse_object(*payload_json, payload); p != parsed::ok) return fail(why(p));

    const double now = static_cast<double>(now_unix);
    const double leeway = static_cast<double>(leeway_);
    double exp = 0;
    std::optional<std::int64_t> expires_at_ms;
    switch (numeric_date(payload, "exp", exp)) {
        case present::bad:
            return fail(reason::malformed);
        case present::absent:
            if (require_exp_) return fail(reason::missing_exp);
            break;
        case present::ok:
            if (now >= exp + leeway) return fail(reason::expired);
            // In whole seconds, rounded up, as the check above reads the clock; capped
            // at the year 9999, so no exp can overflow the milliseconds.
            expires_at_ms = static_cast<std::int64_t>(std::ceil(std::min(exp + leeway, 253402300799.0))) * 1000;
            break;
    }
    double nbf = 0;
    switch (numeric_date(payload, "nbf", nbf)) {
        case present::bad:
            return fail(reason::malformed);
        case present::absent:
            break;
        case present::ok:
            if (now + leeway < nbf) return fail(reason::not_yet_valid);
            break;
    }

    const auto aud = payload.FindMember("aud");
    if (audience_.empty()) {
        if (aud != payload.MemberEnd()) return fail(reason::bad_audience);
    } else {
        bool match = false;
        if (aud != payload.MemberEnd()) {
            if (aud->value.IsArray()) {
                for (const auto& a : aud->value.GetArray()) match = match || string_equals(a, audience_);
            } else {
                match = string_equals(aud->value, audience_);
            }
        }
        if (!match) return fail(reason::bad_audience);
    }

    if (!issuer_.empty()) {
        const auto iss = payload.FindMember("iss");
        if (iss == payload.MemberEnd() || !string_equals(iss->value, issuer_)) return fail(reason::bad_issuer);
    }

    const auto claim = payload.FindMember(claim_.c_str());
    if (claim == payload.MemberEnd() || claim->value.IsNull()) return fail(reason::missing_claim);
    const auto& v = claim->value;
    if (v.IsString() && v.GetStringLength() > 0)
        return {std::string(v.GetString(), v.GetStringLength()), reason::none, expires_at_ms};
    if (v.IsInt64()) return {std::to_string(v.GetInt64()), reason::none, expires_at_ms};
    if (v.IsUint64()) return {std::to_string(v.GetUint64()), reason::none, expires_at_ms};
    return fail(reason::bad_claim);
}

}  // namespace gw::auth
