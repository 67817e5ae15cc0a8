#include "auth/rails_session.hpp"

#include "base64.hpp"

#include "auth/json_object.hpp"
#include "auth/rails_key_generator.hpp"
#include "auth/request_credentials.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <memory>
#include <stdexcept>

namespace gw::auth {

namespace {

// Salts of Rails' cookie jar (ActionDispatch::Cookies with Rails.application.key_generator).
constexpr std::string_view gcm_salt = "authenticated encrypted cookie";
constexpr std::string_view cbc_salt = "encrypted cookie";
constexpr std::string_view sign_salt = "signed encrypted cookie";
constexpr std::size_t aes256_key_size = 32;
constexpr std::size_t sign_key_size = 64;
constexpr std::size_t gcm_iv_size = 12;
constexpr std::size_t gcm_tag_size = 16;
constexpr std::size_t cbc_iv_size = 16;
constexpr std::size_t sha1_size = 20;
constexpr std::size_t sha256_size = 32;

struct cipher_ctx_deleter {
    void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_deleter>;

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

std::optional<std::string> decode_hex(std::string_view s) {
    if (s.size() % 2 != 0) return std::nullopt;
    auto nibble = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(s.size() / 2);
    for (std::size_t i = 0; i < s.size(); i += 2) {
        const int hi = nibble(s[i]);
        const int lo = nibble(s[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
}

// Splits on "--". Base64 never contains '-', so the separator is unambiguous.
std::vector<std::string_view> split_dashes(std::string_view s) {
    std::vector<std::string_view> parts;
    for (;;) {
        const auto p = s.find("--");
        if (p == std::string_view::npos) {
            parts.push_back(s);
            return parts;
        }
        parts.push_back(s.substr(0, p));
        s.remove_prefix(p + 2);
    }
}

std::optional<std::string> gcm_decrypt(const std::string& key, const std::string& iv, const std::string& ct,
                                       const std::string& tag) {
    cipher_ctx ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return std::nullopt;
    std::string out(ct.size() + 16, '\0');
    int len = 0;
    int final_len = 0;
    std::array<unsigned char, gcm_tag_size> tag_copy{};
    std::copy(tag.begin(), tag.end(), tag_copy.begin());
    // Rails sets auth_data to "", which is the same as no additional data.
    const bool ok =
        EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) == 1 &&
        EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, bytes(key), bytes(iv)) == 1 &&
        EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, bytes(ct),
                          static_cast<int>(ct.size())) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_copy.size()), tag_copy.data()) == 1 &&
        EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len, &final_len) == 1;
    if (!ok) {
        ERR_clear_error();
        return std::nullopt;
    }
    out.resize(static_cast<std::size_t>(len + final_len));
    return out;
}

std::optional<std::string> cbc_decrypt(const std::string& key, const std::string& iv, const std::string& ct) {
    cipher_ctx ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return std::nullopt;
    std::string out(ct.size() + 16, '\0');
    int len = 0;
    int final_len = 0;
    const bool ok = EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, bytes(key), bytes(iv)) == 1 &&
                    EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, bytes(ct),
                                      static_cast<int>(ct.size())) == 1 &&
                    EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len, &final_len) == 1;
    if (!ok) {
        ERR_clear_error();
        return std::nullopt;
    }
    out.resize(static_cast<std::size_t>(len + final_len));
    return out;
}

bool is_marshal(std::string_view s) {
    return s.size() >= 2 && s[0] == '\x04' && s[1] == '\x08';
}

rails_session_result failure(reason why) {
    rails_session_result r;
    r.why = why;
    return r;
}

bool all_digits(std::string_view s) {
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return !s.empty();
}

int to_int(std::string_view s) {
    int v = 0;
    for (char c : s) v = v * 10 + (c - '0');
    return v;
}

}  // namespace

rails_session::rails_session(std::string_view secret_key_base, std::string cookie_name, std::string_view key_digest)
    : rails_session(std::vector<std::string>{std::string(secret_key_base)}, std::move(cookie_name), key_digest) {}

rails_session::rails_session(const std::vector<std::string>& secret_key_bases, std::string cookie_name,
                             std::string_view key_digest)
    : purpose_("cookie." + cookie_name) {
    if (secret_key_bases.empty()) throw std::invalid_argument("Rails secret_key_base is empty");
    for (const auto& b : secret_key_bases)
        if (b.empty()) throw std::invalid_argument("Rails secret_key_base is empty");
    if (cookie_name.empty()) throw std::invalid_argument("Rails session cookie name is empty");
    std::string digest;
    for (char c : key_digest) digest.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    std::vector<const EVP_MD*> mds;
    if (digest.empty() || digest == "sha1") mds.push_back(EVP_sha1());
    if (digest.empty() || digest == "sha256") mds.push_back(EVP_sha256());
    if (mds.empty()) throw std::invalid_argument("Rails key digest must be sha1 or sha256");
    for (const auto& secret_key_base : secret_key_bases) {
        for (const EVP_MD* md : mds) {
            // PBKDF2's output prefix does not depend on the requested length, so
            // deriving 32 bytes equals Rails' generate_key(salt)[0, 32].
            keys_.push_back({rails_generate_key(secret_key_base, gcm_salt, md, aes256_key_size),
                             rails_generate_key(secret_key_base, cbc_salt, md, aes256_key_size),
                             rails_generate_key(secret_key_base, sign_salt, md, sign_key_size)});
        }
    }
}

rails_session_result rails_session::decode(std::string_view cookie_value, std::int64_t now_unix) const {
    if (cookie_value.size() > max_cookie_size) return failure(reason::too_large);
    const auto value = percent_decode(cookie_value, false);
    if (!value || value->empty()) return failure(reason::malformed);
    const auto parts = split_dashes(*value);
    if (parts.size() == 3) return decode_gcm(parts[0], parts[1], parts[2], now_unix);
    if (parts.size() == 2) return decode_cbc(parts[0], parts[1], now_unix);
    return failure(reason::malformed);
}

rails_session_result rails_session::decode_gcm(std::string_view ct64, std::string_view iv64, std::string_view tag64,
                                               std::int64_t now_unix) const {
    const auto ct = decode_base64(ct64);
    const auto iv = decode_base64(iv64);
    const auto tag = decode_base64(tag64);
    if (!ct || !iv || !tag || iv->size() != gcm_iv_size || tag->size() != gcm_tag_size)
        return failure(reason::malformed);
    for (const auto& k : keys_)
        if (auto plain = gcm_decrypt(k.gcm_key, *iv, *ct, *tag)) return from_plaintext(*plain, now_unix);
    return failure(reason::bad_signature);
}

rails_session_result rails_session::decode_cbc(std::string_view data, std::string_view hex_digest,
                                               std::int64_t now_unix) const {
    const char* md_name = nullptr;
    if (hex_digest.size() == 2 * sha1_size)
        md_name = "SHA1";
    else if (hex_digest.size() == 2 * sha256_size)
        md_name = "SHA256";
    const auto digest = decode_hex(hex_digest);
    if (!md_name || !digest || data.empty()) return failure(reason::malformed);

    for (const auto& k : keys_) {
        std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
        std::size_t mac_len = 0;
        if (!EVP_Q_mac(nullptr, "HMAC", nullptr, md_name, nullptr, k.sign_key.data(), k.sign_key.size(), bytes(data),
                       data.size(), mac.data(), mac.size(), &mac_len)) {
            ERR_clear_error();
            continue;
        }
        if (mac_len != digest->size() || CRYPTO_memcmp(mac.data(), digest->data(), mac_len) != 0) continue;

        // Authentic from here on: anything odd is the app's doing, not an attacker's.
        const auto inner = decode_base64(data);
        if (!inner) return failure(reason::malformed);
        const auto halves = split_dashes(*inner);
        if (halves.size() != 2) return failure(reason::malformed);
        const auto ct = decode_base64(halves[0]);
        const auto iv = decode_base64(halves[1]);
        if (!ct || !iv || iv->size() != cbc_iv_size) return failure(reason::malformed);
        const auto plain = cbc_decrypt(k.cbc_key, *iv, *ct);
        if (!plain) return failure(reason::decrypt_failed);
        return from_plaintext(*plain, now_unix);
    }
    return failure(reason::bad_signature);
}

rails_session_result rails_session::from_plaintext(const std::string& plaintext, std::int64_t now_unix) const {
    if (is_marshal(plaintext)) return failure(reason::marshal_session);
    rails_session_result r;
    if (!parse_json(plaintext, r.session)) return failure(reason::malformed);
    // Every object a value is read from (the session, the envelope, the wrapped
    // session) must name each member once: see json_object.hpp.
    if (has_duplicate_names(r.session)) return failure(reason::duplicate_member);

    if (r.session.IsObject()) {
        const auto env = r.session.FindMember("_rails");
        if (env != r.session.MemberEnd() && env->value.IsObject()) {
            auto& meta = env->value;
            if (has_duplicate_names(meta)) return failure(reason::duplicate_member);
            const auto pur = meta.FindMember("pur");
            if (pur != meta.MemberEnd() && !pur->value.IsNull() &&
                !(pur->value.IsString() &&
                  std::string_view(pur->value.GetString(), pur->value.GetStringLength()) == purpose_))
                return failure(reason::wrong_purpose);
            const auto exp = meta.FindMember("exp");
            std::optional<std::int64_t> expires_at_ms;
            if (exp != meta.MemberEnd() && !exp->value.IsNull()) {
                if (!exp->value.IsString()) return failure(reason::malformed);
                const auto at =
                    parse_iso8601_ms(std::string_view(exp->value.GetString(), exp->value.GetStringLength()));
                if (!at) return failure(reason::malformed);
                // Rails: fresh while Time.now < expires_at.
                if (now_unix * 1000 >= *at) return failure(reason::expired);
                expires_at_ms = (*at + 999) / 1000 * 1000;  // whole seconds, as the check reads the clock
            }
            const auto message = meta.FindMember("message");
            const auto data = meta.FindMember("data");
            if (message != meta.MemberEnd()) {
                if (!message->value.IsString()) return failure(reason::malformed);
                const auto inner =
                    decode_base64(std::string_view(message->value.GetString(), message->value.GetStringLength()));
                if (!inner) return failure(reason::malformed);
                if (is_marshal(*inner)) return failure(reason::marshal_session);
                rails_session_result unwrapped;
                if (!parse_json(*inner, unwrapped.session) || !unwrapped.session.IsObject())
                    return failure(reason::malformed);
                if (has_duplicate_names(unwrapped.session)) return failure(reason::duplicate_member);
                unwrapped.expires_at_ms = expires_at_ms;
                return unwrapped;
            }
            if (data != meta.MemberEnd()) {
                if (!data->value.IsObject()) return failure(reason::malformed);
                if (has_duplicate_names(data->value)) return failure(reason::duplicate_member);
                // Moved up to the root, not copied: CopyFrom recurses once per nesting
                // level (a session ~2,700 deep overflowed a 256 KiB stack), a move is
                // O(1). Both stay in the document's pool, which frees without recursion.
                rapidjson::Value session(std::move(data->value));
                static_cast<rapidjson::Value&>(r.session).Swap(session);
                r.expires_at_ms = expires_at_ms;
                return r;
            }
            return failure(reason::malformed);
        }
    }
    if (!r.session.IsObject()) return failure(reason::malformed);
    return r;
}

rails_user_result rails_session::find_user(const rapidjson::Value& session, const std::vector<std::string>& keys) {
    if (!session.IsObject()) return {{}, reason::missing_key};
    for (const auto& key : keys) {
        if (key.empty()) continue;
        const auto it = session.FindMember(rapidjson::StringRef(key.data(), key.size()));
        if (it == session.MemberEnd() || it->value.IsNull()) continue;
        const auto& v = it->value;
        if (v.IsString() && v.GetStringLength() > 0) return {std::string(v.GetString(), v.GetStringLength()), {}};
        if (v.IsInt64()) return {std::to_string(v.GetInt64()), {}};
        if (v.IsUint64()) return {std::to_string(v.GetUint64()), {}};
        return {{}, reason::bad_user_value};
    }
    return {{}, reason::missing_key};
}

std::optional<std::string> rails_session::decode_base64(std::string_view s) {
    if (s.size() % 4 != 0) return std::nullopt;
    // At most two '=' and only at the end; any other '=' fails the alphabet check below.
    std::size_t pad = 0;
    if (!s.empty() && s.back() == '=') ++pad;
    if (pad == 1 && s.size() >= 2 && s[s.size() - 2] == '=') ++pad;
    const std::string_view body = s.substr(0, s.size() - pad);
    return base64_decode_unpadded(body, base64_alphabet::standard);
}

std::optional<std::int64_t> rails_session::parse_iso8601_ms(std::string_view s) {
    // YYYY-MM-DDTHH:MM:SS
    if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return std::nullopt;
    const auto year = s.substr(0, 4), month = s.substr(5, 2), day = s.substr(8, 2);
    const auto hour = s.substr(11, 2), minute = s.substr(14, 2), second = s.substr(17, 2);
    for (auto f : {year, month, day, hour, minute, second})
        if (!all_digits(f)) return std::nullopt;
    const std::chrono::year_month_day ymd{std::chrono::year{to_int(year)},
                                          std::chrono::month{static_cast<unsigned>(to_int(month))},
                                          std::chrono::day{static_cast<unsigned>(to_int(day))}};
    if (!ymd.ok() || to_int(hour) > 23 || to_int(minute) > 59 || to_int(second) > 60) return std::nullopt;

    std::string_view rest = s.substr(19);
    std::int64_t ms = 0;
    if (!rest.empty() && rest.front() == '.') {
        rest.remove_prefix(1);
        std::size_t n = 0;
        while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
        if (n == 0) return std::nullopt;
        for (std::size_t i = 0; i < 3; ++i) ms = ms * 10 + (i < n ? rest[i] - '0' : 0);
        rest.remove_prefix(n);
    }
    std::int64_t offset_s = 0;
    if (rest == "Z" || rest == "z") {
        offset_s = 0;
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
               all_digits(rest.substr(1, 2)) && all_digits(rest.substr(4, 2))) {
        offset_s = to_int(rest.substr(1, 2)) * 3600 + to_int(rest.substr(4, 2)) * 60;
        if (rest[0] == '-') offset_s = -offset_s;
    } else {
        return std::nullopt;
    }
    const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
    const std::int64_t secs = days * 86400 + to_int(hour) * 3600 + to_int(minute) * 60 + to_int(second) - offset_s;
    return secs * 1000 + ms;
}

}  // namespace gw::auth
