// The Rails session cookie decoder (gateway/auth/rails_session) on hostile cookies.
//
// Input: byte 0 -- bits 0-1 the configured key digest ("", "sha1", "sha256", ""),
// bits 2-3 the mode:
//  0: the rest is the cookie value as the browser sends it;
//  1: the rest is a session plaintext, encrypted here as Rails 5.2-6.1 does
//     (AES-256-GCM, PBKDF2-SHA1 key), 2: the same with Rails 7's PBKDF2-SHA256 key,
//  3: encrypted and signed as Rails 4.x-5.1 does (AES-256-CBC + HMAC-SHA1);
// so the fuzzer's JSON reaches the envelope and session checks behind the
// cryptography. The secret_key_base and cookie name are
// tests/support/make_auth_fixtures.sh's, so its ActiveSupport cookies are seeds.
//
// Checked: no crash, leak or UB; every refusal is a documented reason code; a
// cookie encrypted with the right key is never refused as bad_signature or
// decrypt_failed, and is accepted exactly when a reading of its plaintext against
// rails_session.hpp's contract (Marshal, JSON object, names once, the _rails
// envelope's pur, exp, message and data) says so, with the same session; an
// accepted session is a JSON object whose user lookup answers; the strict base64
// decoder gives back exactly the text each decoded part encodes; the ISO 8601
// reader agrees with timegm.
#include "auth/json_object.hpp"
#include "auth/rails_session.hpp"
#include "fuzz_codec.hpp"
#include "fuzz_support.hpp"

#include <openssl/evp.h>
#include <rapidjson/document.h>

#include <ctime>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

using gw::auth::parse_json;
using gw::auth::rails_session;
using gw::fuzz::as_text;

constexpr std::int64_t fixture_now = 1700000000;
constexpr std::string_view secret_key_base =
    "8f0c2b6c0c0f5e1b8a9d4c3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
    "2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c";
constexpr const char* cookie_name = "_authy_demo_session";

using gw::auth::reason;
const std::set<reason> reasons = {
    reason::too_large, reason::malformed,     reason::bad_signature,   reason::decrypt_failed,
    reason::expired,   reason::wrong_purpose, reason::marshal_session, reason::duplicate_member,
};

std::string encrypt(const EVP_CIPHER* cipher, std::string_view key, std::string_view iv, std::string_view plain,
                    std::string* tag) {
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    auto u = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
    EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr);
    if (tag) EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr);
    EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, u(key), u(iv));
    std::string out(plain.size() + 32, '\0');
    int n = 0, m = 0;
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    EVP_EncryptUpdate(ctx.get(), o, &n, u(plain), static_cast<int>(plain.size()));
    EVP_EncryptFinal_ex(ctx.get(), o + n, &m);
    out.resize(static_cast<std::size_t>(n + m));
    if (tag) {
        tag->assign(16, '\0');
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag->data());
    }
    return out;
}

// ActiveSupport::MessageEncryptor#encrypt_and_sign, then Rack's escaping.
std::string rails_cookie(int mode, std::string_view plain) {
    using namespace gw::fuzz;
    if (mode == 1 || mode == 2) {
        static const std::string sha1_key = pbkdf2(EVP_sha1(), secret_key_base, "authenticated encrypted cookie", 32);
        static const std::string sha256_key =
            pbkdf2(EVP_sha256(), secret_key_base, "authenticated encrypted cookie", 32);
        const std::string iv = "fuzz-iv-0123";
        std::string tag;
        const auto ct = encrypt(EVP_aes_256_gcm(), mode == 1 ? sha1_key : sha256_key, iv, plain, &tag);
        return www_form_escape(base64(ct) + "--" + base64(iv) + "--" + base64(tag));
    }
    static const std::string cbc_key = pbkdf2(EVP_sha1(), secret_key_base, "encrypted cookie", 64).substr(0, 32);
    static const std::string sign_key = pbkdf2(EVP_sha1(), secret_key_base, "signed encrypted cookie", 64);
    const std::string iv = "fuzz-iv-01234567";
    const auto data = base64(base64(encrypt(EVP_aes_256_cbc(), cbc_key, iv, plain, nullptr)) + "--" + base64(iv));
    return www_form_escape(data + "--" + hex(hmac(EVP_sha1(), sign_key, data)));
}

void check_base64(std::string_view text) {
    if (const auto bytes = rails_session::decode_base64(text)) fuzz_check(gw::fuzz::base64(*bytes) == text);
    fuzz_check(rails_session::decode_base64(gw::fuzz::base64(text)) == std::string(text));
}

// "YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)" in Unix ms, as rails_session.hpp
// describes it, computed with the C library's timegm (not std::chrono, which the
// decoder uses). A leap second (:60) is the next minute's :00, as Ruby's Time
// reads it; the offset's digits are not range-checked (the decoder does not either).
std::optional<std::int64_t> expected_ms(std::string_view s) {
    auto digits = [](std::string_view t, std::size_t at, std::size_t n) -> std::optional<int> {
        if (t.size() < at + n) return std::nullopt;
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            if (t[i] < '0' || t[i] > '9') return std::nullopt;
            v = v * 10 + (t[i] - '0');
        }
        return v;
    };
    const auto y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2), h = digits(s, 11, 2),
               mi = digits(s, 14, 2), se = digits(s, 17, 2);
    if (!y || !mo || !d || !h || !mi || !se || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return std::nullopt;
    const bool leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
    const int month_days[] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (*mo < 1 || *mo > 12 || *d < 1 || *d > month_days[*mo - 1] || *h > 23 || *mi > 59 || *se > 60)
        return std::nullopt;
    std::string_view rest = s.substr(19);
    std::int64_t ms = 0;
    if (!rest.empty() && rest.front() == '.') {
        std::size_t n = 1;
        while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
        if (n == 1) return std::nullopt;
        const std::string frac = std::string(rest.substr(1, std::min<std::size_t>(n - 1, 3))) + "00";
        ms = std::stoi(frac.substr(0, 3));
        rest.remove_prefix(n);
    }
    std::int64_t offset = 0;
    if (rest != "Z" && rest != "z") {
        if (rest.size() != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':') return std::nullopt;
        const auto oh = digits(rest, 1, 2), om = digits(rest, 4, 2);
        if (!oh || !om) return std::nullopt;
        offset = (*oh * 3600 + *om * 60) * (rest[0] == '-' ? -1 : 1);
    }
    std::tm tm{};
    tm.tm_year = *y - 1900;
    tm.tm_mon = *mo - 1;
    tm.tm_mday = *d;
    tm.tm_hour = *h;
    tm.tm_min = *mi;
    tm.tm_sec = *se;
    return (static_cast<std::int64_t>(timegm(&tm)) - offset) * 1000 + ms;
}

// What rails_session.hpp's contract says a plaintext encrypted with the right key
// gives: the session object, or nullopt for a refusal. The JSON reader is the
// decoder's own (auth/json_object: the parse is not under test here, the envelope
// rules are); expiry uses expected_ms.
struct expectation {
    rapidjson::Document outer, inner;
    const rapidjson::Value* session = nullptr;
};

bool names_once(const rapidjson::Value& obj) {
    if (!obj.IsObject()) return true;
    for (auto a = obj.MemberBegin(); a != obj.MemberEnd(); ++a)
        for (auto b = a + 1; b != obj.MemberEnd(); ++b)
            if (a->name == b->name) return false;
    return true;
}

bool expect(std::string_view plain, expectation& e) {
    if (plain.substr(0, 2) == "\x04\x08") return false;  // Marshal: never parsed
    if (!parse_json(plain, e.outer) || !e.outer.IsObject() || !names_once(e.outer)) return false;
    const auto env = e.outer.FindMember("_rails");
    if (env == e.outer.MemberEnd() || !env->value.IsObject()) {
        e.session = &e.outer;
        return true;
    }
    const auto& meta = env->value;
    if (!names_once(meta)) return false;
    auto member = [&](const char* name) -> const rapidjson::Value* {
        const auto it = meta.FindMember(name);
        return it == meta.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
    };
    if (const auto* pur = member("pur");
        pur && !(pur->IsString() &&
                 std::string_view(pur->GetString(), pur->GetStringLength()) == std::string("cookie.") + cookie_name))
        return false;
    if (const auto* exp = member("exp")) {
        if (!exp->IsString()) return false;
        const auto at = expected_ms(std::string_view(exp->GetString(), exp->GetStringLength()));
        if (!at || fixture_now * 1000 >= *at) return false;
    }
    const auto message = meta.FindMember("message");
    if (message != meta.MemberEnd()) {
        if (!message->value.IsString()) return false;
        const auto bytes = rails_session::decode_base64(
            std::string_view(message->value.GetString(), message->value.GetStringLength()));
        if (!bytes || bytes->substr(0, 2) == "\x04\x08") return false;
        if (!parse_json(*bytes, e.inner) || !e.inner.IsObject() || !names_once(e.inner)) return false;
        e.session = &e.inner;
        return true;
    }
    const auto data = meta.FindMember("data");
    if (data == meta.MemberEnd() || !data->value.IsObject() || !names_once(data->value)) return false;
    e.session = &data->value;
    return true;
}

void check(std::uint8_t config, std::string_view rest) {
    static const char* const digests[] = {"", "sha1", "sha256", ""};
    static const rails_session sessions[] = {
        {secret_key_base, cookie_name, digests[0]},
        {secret_key_base, cookie_name, digests[1]},
        {secret_key_base, cookie_name, digests[2]},
    };
    const int digest = config & 3;
    const auto& decoder = sessions[digest == 3 ? 0 : digest];
    const int mode = (config >> 2) & 3;
    const std::string cookie = mode == 0 ? std::string(rest) : rails_cookie(mode, rest);

    const auto r = decoder.decode(cookie, fixture_now);
    const bool right_key = mode != 0 && cookie.size() <= rails_session::max_cookie_size &&
                           (digest == 0 || digest == 3 || (digest == 1) == (mode != 2));
    if (right_key) {
        // Accepted exactly when the contract says so, with the same session.
        expectation e;
        const bool ok = expect(rest, e);
        if (ok != r.ok())
            std::fprintf(stderr, "decoder: %s, contract: %s\n", r.ok() ? "accept" : std::string(gw::auth::to_string(r.why)).c_str(),
                         ok ? "accept" : "refuse");
        fuzz_check(ok == r.ok());
        if (ok) {
            fuzz_check(r.session.MemberCount() == e.session->MemberCount());
            const std::vector<std::string> keys{"pre_2fa_auth_user_id", "user_id", "session_id"};
            for (const auto& k : keys) {
                const auto a = rails_session::find_user(r.session, {k}), b = rails_session::find_user(*e.session, {k});
                fuzz_check(a.user == b.user && a.why == b.why);
            }
        }
    }
    if (!r.ok()) {
        fuzz_check(reasons.count(r.why) == 1);
        if (right_key) {
            fuzz_check(r.why != reason::bad_signature && r.why != reason::decrypt_failed && r.why != reason::too_large);
            if (rest.substr(0, 2) == "\x04\x08") fuzz_check(r.why == reason::marshal_session);
        }
    } else {
        fuzz_check(r.session.IsObject());
        fuzz_check(!r.expires_at_ms || *r.expires_at_ms > fixture_now * 1000);
        const auto user = rails_session::find_user(r.session, {"pre_2fa_auth_user_id", "user_id"});
        fuzz_check(user.ok() ? !user.user.empty() : user.why == reason::missing_key || user.why == reason::bad_user_value);
    }

    if (mode == 0) {
        std::string_view t = rest;
        for (std::size_t dash; (dash = t.find("--")) != std::string_view::npos; t.remove_prefix(dash + 2))
            check_base64(t.substr(0, dash));
        check_base64(t);
        if (rest.size() <= 64) fuzz_check(rails_session::parse_iso8601_ms(rest) == expected_ms(rest));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || size > 3 * rails_session::max_cookie_size) return -1;
    check(data[0], as_text(data + 1, size - 1));
    return 0;
}
