#include "auth/jwks.hpp"

#include "auth/json_object.hpp"
#include "auth/openssl_ptr.hpp"
#include "base64.hpp"
#include "log.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <rapidjson/document.h>

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

namespace gw::auth {

namespace {

constexpr std::size_t p256_coordinate = 32;

std::optional<std::string_view> string_member(const rapidjson::Value& obj, const char* name) {
    const auto it = obj.FindMember(name);
    if (it == obj.MemberEnd() || !it->value.IsString()) return std::nullopt;
    return std::string_view(it->value.GetString(), it->value.GetStringLength());
}

std::optional<std::string> b64url_member(const rapidjson::Value& obj, const char* name) {
    const auto s = string_member(obj, name);
    if (!s || s->empty()) return std::nullopt;
    return base64_decode_unpadded(*s, base64_alphabet::url);
}

// EVP_PKEY_fromdata for a public key of `type` ("RSA", "EC") from params.
EVP_PKEY* from_params(const char* type, OSSL_PARAM_BLD* bld) {
    params_ptr params(OSSL_PARAM_BLD_to_param(bld));
    pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* pkey = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        return nullptr;
    return pkey;
}

EVP_PKEY* rsa_key(const rapidjson::Value& jwk) {
    const auto n = b64url_member(jwk, "n");
    const auto e = b64url_member(jwk, "e");
    if (!n || !e) return nullptr;
    bignum_ptr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr));
    bignum_ptr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr));
    param_bld_ptr bld(OSSL_PARAM_BLD_new());
    if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
        return nullptr;
    return from_params("RSA", bld.get());
}

EVP_PKEY* p256_key(const rapidjson::Value& jwk) {
    auto x = b64url_member(jwk, "x");
    auto y = b64url_member(jwk, "y");
    if (!x || !y || x->empty() || y->empty() || x->size() > p256_coordinate || y->size() > p256_coordinate)
        return nullptr;
    // RFC 7518 wants each coordinate at full length, but some issuers drop its
    // leading zero bytes (PyJWT before 2.8 did, for about one key in 128): the
    // value is the same, so pad it back. The curve check below still applies.
    x->insert(0, p256_coordinate - x->size(), '\0');
    y->insert(0, p256_coordinate - y->size(), '\0');
    const std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
    param_bld_ptr bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
        return nullptr;
    EVP_PKEY* pkey = from_params("EC", bld.get());
    if (!pkey) return nullptr;
    // A point off the curve is how invalid-curve attacks start: check it.
    pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) {
        EVP_PKEY_free(pkey);
        return nullptr;
    }
    return pkey;
}

bool meant_for_signatures(const rapidjson::Value& jwk) {
    const auto use = jwk.FindMember("use");
    if (use != jwk.MemberEnd() && !(use->value.IsString() && std::string_view(use->value.GetString()) == "sig"))
        return false;
    const auto ops = jwk.FindMember("key_ops");
    if (ops == jwk.MemberEnd()) return true;
    if (!ops->value.IsArray()) return false;
    for (const auto& op : ops->value.GetArray())
        if (op.IsString() && std::string_view(op.GetString(), op.GetStringLength()) == "verify") return true;
    return false;
}

// What became of one entry of the set.
struct entry_result {
    std::optional<jwt_key> key;  // set: usable
    std::string refused;         // set: meant for us but unsound; neither: skipped
    std::string kid;
};

entry_result usable_key(const rapidjson::Value& jwk) {
    entry_result r;
    if (has_duplicate_names(jwk) || !meant_for_signatures(jwk)) return r;
    const auto kty = string_member(jwk, "kty");
    if (!kty) return r;
    jwt_alg alg;
    if (*kty == "RSA") {
        alg = jwt_alg::rs256;
    } else if (*kty == "EC" && string_member(jwk, "crv") == std::string_view("P-256")) {
        alg = jwt_alg::es256;
    } else {
        return r;
    }
    if (jwk.HasMember("alg") && string_member(jwk, "alg") != to_string(alg)) return r;
    if (jwk.HasMember("kid")) {
        const auto k = string_member(jwk, "kid");
        if (!k) return r;
        r.kid = *k;
    }
    EVP_PKEY* pkey = alg == jwt_alg::rs256 ? rsa_key(jwk) : p256_key(jwk);
    ERR_clear_error();
    if (!pkey) {
        r.refused = "its members do not make a sound key";
        return r;
    }
    try {
        r.key = jwt_key::from_public_key(alg, pkey, r.kid);
    } catch (const std::invalid_argument& e) {
        r.refused = e.what();  // e.g. an RSA key under 2048 bits or with e = 1
    }
    return r;
}

}  // namespace

jwks_keys parse_jwks(std::string_view text) {
    rapidjson::Document doc;
    if (!parse_json(text, doc) || !doc.IsObject()) throw std::invalid_argument("not a JSON object");
    if (has_duplicate_names(doc)) throw std::invalid_argument("a member is named twice");
    const auto keys = doc.FindMember("keys");
    if (keys == doc.MemberEnd() || !keys->value.IsArray()) throw std::invalid_argument("no \"keys\" array");
    jwks_keys out;
    std::set<std::pair<jwt_alg, std::string>> kids;  // of the keys taken
    for (const auto& jwk : keys->value.GetArray()) {
        if (!jwk.IsObject()) throw std::invalid_argument("an entry of \"keys\" is not an object");
        auto r = usable_key(jwk);
        if (r.key && !r.kid.empty() && !kids.emplace(r.key->alg(), r.kid).second) {
            r.key.reset();
            r.refused = "an earlier key of the set carries its kid";
        }
        if (r.key)
            out.keys.push_back(std::move(*r.key));
        else if (!r.refused.empty())
            out.refused.push_back({std::move(r.kid), std::move(r.refused)});
        else
            ++out.skipped;
    }
    if (out.keys.empty())
        throw std::invalid_argument("no usable RS256 or ES256 signing key (" + std::to_string(out.skipped) +
                                    " skipped, " + std::to_string(out.refused.size()) + " refused)");
    return out;
}

void log_refused(const std::vector<refused_key>& refused, std::string_view source) {
    for (const auto& k : refused)
        log::warn("JWT key refused")
            .str("source", source)
            .str("kid", std::string_view(k.kid).substr(0, 64))
            .str("why", k.why);
}

}  // namespace gw::auth
