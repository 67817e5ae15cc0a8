#pragma once
// Verifies turbo-rails' signed stream names, as Turbo::StreamsChannel does, with
// nothing but the app's secret_key_base. turbo_stream_from(*streamables) renders
// Turbo.signed_stream_verifier.generate(name), where the verifier is
//   ActiveSupport::MessageVerifier.new(key, digest: "SHA256", serializer: JSON)
//   key = Rails.application.key_generator.generate_key("turbo/signed_stream_verifier_key")
// (64 bytes of PBKDF2 over secret_key_base, SHA1 before Rails 7 and SHA256 after:
// both are tried). A signed name is "<base64 of JSON.dump(name)>--<hex HMAC-SHA256
// of the base64 text>"; the name is the JSON string inside, e.g.
// "Z2lkOi8vYXBwL1Jvb20vMQ" for "gid://app/Room/1". MessageVerifier reads strict
// base64 and falls back to url-safe base64; so does this.
//
// Only what turbo-rails generates is accepted: a JSON string with no metadata
// envelope (turbo never sets a purpose or an expiry). Several secret_key_base
// values may be configured (rotation), the current one first.
//
// Thread rule: immutable after construction (keys are derived there); verify()
// may run concurrently.
#include <string>
#include <string_view>
#include <vector>

namespace gw::turbo {

enum class name_refusal {
    none,
    missing,        // no signed_stream_name
    too_long,       // longer than max_signed_name
    malformed,      // not "<base64>--<hex>", or the data is not base64
    bad_signature,  // no configured key made this digest
    not_a_name,     // authentic, but not a non-empty JSON string
};

// The text of a refusal where it leaves the process (a log field, a metric label).
std::string_view name_of(name_refusal r);

struct verified_name {
    std::string name;  // the stream name, set when refusal is none
    name_refusal refusal = name_refusal::none;
    bool ok() const { return refusal == name_refusal::none; }
};

class signed_stream_verifier {
public:
    // turbo_stream_from names are short (a few GlobalIDs joined with ':'); a
    // longer value is refused before any HMAC is computed.
    static constexpr std::size_t max_signed_name = 4096;
    static constexpr std::string_view key_salt = "turbo/signed_stream_verifier_key";

    // Throws std::invalid_argument when secret_key_bases is empty or holds an empty value.
    explicit signed_stream_verifier(const std::vector<std::string>& secret_key_bases);

    // signed_name is the parameter's value, already percent-decoded.
    verified_name verify(std::string_view signed_name) const;

private:
    std::vector<std::string> keys_;  // 64-byte HMAC keys: per base, SHA256-derived then SHA1-derived
};

}  // namespace gw::turbo
