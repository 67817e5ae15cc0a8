#pragma once
// Decodes a Rails encrypted cookie session (ActionDispatch::Session::CookieStore)
// with the app's secret_key_base, as Rails itself reads it. Two wire formats:
//
//  * Rails 5.2+ (authenticated encryption): base64(ciphertext)--base64(iv)--base64(tag),
//    AES-256-GCM, key = PBKDF2-HMAC(secret_key_base, "authenticated encrypted cookie",
//    1000, 32). The PBKDF2 digest is SHA1 up to Rails 6.1 and SHA256 with Rails 7
//    defaults; both are tried unless one is configured.
//  * Rails 4.x-5.1 (and later apps with use_authenticated_cookie_encryption off):
//    base64(base64(ciphertext)--base64(iv))--hex(hmac), HMAC over the outer base64
//    text with key PBKDF2(secret_key_base, "signed encrypted cookie", 1000, 64)
//    (SHA1, or SHA256 when the hex length says so), compared in constant time and
//    checked before anything is decrypted; then AES-256-CBC with the first 32 bytes
//    of PBKDF2(secret_key_base, "encrypted cookie", 1000, 64).
//
// The plaintext must be JSON (cookies_serializer :json). A Marshal dump (it starts
// with 0x04 0x08) is refused as marshal_session and never parsed: loading Marshal
// data from a cookie is how Rails apps with a leaked secret get remote code
// execution. The Rails 5.2+ metadata envelope {"_rails":{"message":base64,"exp":..,
// "pur":..}} (and Rails 7.1's {"_rails":{"data":..,..}}) is unwrapped: "exp" (ISO
// 8601) must lie in the future, and "pur" must be "cookie.<cookie name>". An
// envelope without "pur" is accepted, as Rails' cookie jar does (Rails 5.2 wrote
// expiry-only envelopes); one naming another purpose is not.
//
// Several secret_key_base values may be configured at once (Rails' own
// cookies_rotations): a cookie made with any of them is read, the first (the
// current one) tried first.
//
// Reasons (see reason.hpp): too_large, malformed, bad_signature,
// decrypt_failed, expired, wrong_purpose, marshal_session; find_user adds
// missing_key and bad_user_value.
//
// Thread rule: immutable after construction (keys are derived once, in the
// constructor); decode() may run concurrently.
#include "auth/reason.hpp"

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::auth {

struct rails_session_result {
    reason why = reason::none;                  // none on success
    rapidjson::Document session;                // a JSON object when why is none
    std::optional<std::int64_t> expires_at_ms;  // the envelope's "exp", when it has one

    bool ok() const { return why == reason::none; }
};

struct rails_user_result {
    std::string user;           // set when why is none
    reason why = reason::none;  // none on success

    bool ok() const { return why == reason::none; }
};

class rails_session {
public:
    static constexpr std::size_t max_cookie_size = 8192;

    // key_digest: "" (try SHA1 then SHA256), "sha1" or "sha256" (case-insensitive).
    // Throws std::invalid_argument for an empty secret or cookie name, or another digest.
    rails_session(std::string_view secret_key_base, std::string cookie_name, std::string_view key_digest);
    // The same with several bases (at least one, none empty), current first.
    rails_session(const std::vector<std::string>& secret_key_bases, std::string cookie_name,
                  std::string_view key_digest);

    // cookie_value is the value as the browser sends it (URL-encoded); now_unix is
    // compared with an envelope's expiry.
    rails_session_result decode(std::string_view cookie_value, std::int64_t now_unix) const;

    // The first of keys present (and not null) in session: a non-empty JSON string,
    // or an integer rendered in decimal. missing_key when none is present;
    // bad_user_value when the first present one has another type.
    static rails_user_result find_user(const rapidjson::Value& session, const std::vector<std::string>& keys);

    // Strict standard base64 as Ruby's Base64.strict_decode64: padded to a multiple
    // of four, '=' only at the end, no whitespace, zero leftover bits.
    static std::optional<std::string> decode_base64(std::string_view s);

    // Milliseconds since the epoch for "YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)".
    static std::optional<std::int64_t> parse_iso8601_ms(std::string_view s);

private:
    struct key_set {
        std::string gcm_key;   // 32 bytes
        std::string cbc_key;   // 32 bytes
        std::string sign_key;  // 64 bytes
    };

    rails_session_result decode_gcm(std::string_view ct64, std::string_view iv64, std::string_view tag64,
                                    std::int64_t now_unix) const;
    rails_session_result decode_cbc(std::string_view data, std::string_view hex_digest, std::int64_t now_unix) const;
    rails_session_result from_plaintext(const std::string& plaintext, std::int64_t now_unix) const;

    std::vector<key_set> keys_;  // per secret_key_base, per digest, in the order tried
    std::string purpose_;        // "cookie.<cookie name>"
};

}  // namespace gw::auth
