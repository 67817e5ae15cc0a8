#include "turbo/signed_stream_name.hpp"

#include "auth/json_object.hpp"
#include "auth/rails_key_generator.hpp"
#include "auth/rails_session.hpp"
#include "base64.hpp"
#include "hex.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>

#include <array>
#include <stdexcept>

namespace gw::turbo {

namespace {

constexpr std::size_t verifier_key_size = 64;  // KeyGenerator#generate_key's default length
constexpr std::size_t sha256_hex_size = 64;
constexpr std::string_view separator = "--";

verified_name refused(name_refusal r) {
    verified_name out;
    out.refusal = r;
    return out;
}

// OpenSSL::HMAC.hexdigest: lowercase, as Rails compares it (byte for byte).
std::string hmac_sha256_hex(const std::string& key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &len)) {
        ERR_clear_error();
        return {};
    }
    return to_hex(mac.data(), len);
}

}  // namespace

std::string_view name_of(name_refusal r) {
    switch (r) {
        case name_refusal::none:
            return "ok";
        case name_refusal::missing:
            return "missing_stream_name";
        case name_refusal::too_long:
            return "stream_name_too_long";
        case name_refusal::malformed:
            return "malformed_stream_name";
        case name_refusal::bad_signature:
            return "bad_stream_signature";
        case name_refusal::not_a_name:
            return "not_a_stream_name";
    }
    return "unknown";
}

signed_stream_verifier::signed_stream_verifier(const std::vector<std::string>& secret_key_bases) {
    if (secret_key_bases.empty()) throw std::invalid_argument("a signed stream verifier needs a secret_key_base");
    for (const auto& base : secret_key_bases) {
        if (base.empty()) throw std::invalid_argument("Rails secret_key_base is empty");
        // SHA256 first: the key generator's digest since Rails 7.0's defaults.
        keys_.push_back(auth::rails_generate_key(base, key_salt, EVP_sha256(), verifier_key_size));
        keys_.push_back(auth::rails_generate_key(base, key_salt, EVP_sha1(), verifier_key_size));
    }
}

verified_name signed_stream_verifier::verify(std::string_view signed_name) const {
    if (signed_name.empty()) return refused(name_refusal::missing);
    if (signed_name.size() > max_signed_name) return refused(name_refusal::too_long);
    // MessageVerifier finds the separator by the digest's length from the end.
    if (signed_name.size() <= sha256_hex_size + separator.size()) return refused(name_refusal::malformed);
    const auto at = signed_name.size() - sha256_hex_size - separator.size();
    if (signed_name.substr(at, separator.size()) != separator) return refused(name_refusal::malformed);
    const auto data = signed_name.substr(0, at);
    const auto digest = signed_name.substr(at + separator.size());

    bool authentic = false;
    for (const auto& key : keys_) {
        const auto expected = hmac_sha256_hex(key, data);
        if (expected.size() == digest.size() && CRYPTO_memcmp(expected.data(), digest.data(), digest.size()) == 0) {
            authentic = true;
            break;
        }
    }
    if (!authentic) return refused(name_refusal::bad_signature);

    // Authentic from here on: what is odd was signed by the app.
    auto json = auth::rails_session::decode_base64(data);
    if (!json) json = base64_decode_unpadded(data, base64_alphabet::url);
    if (!json) return refused(name_refusal::malformed);
    rapidjson::Document doc;
    if (!auth::parse_json(*json, doc) || !doc.IsString() || doc.GetStringLength() == 0)
        return refused(name_refusal::not_a_name);
    verified_name out;
    out.name.assign(doc.GetString(), doc.GetStringLength());
    return out;
}

}  // namespace gw::turbo
