// turbo-rails' signed stream names (gateway/turbo/signed_stream_name) on hostile
// input.
//
// Input: byte 0 picks the mode; the rest is
//  - mode even: a signed name as it arrives in the query parameter;
//  - mode odd: a stream name, which the target signs itself, as turbo-rails does,
//    with a key it derives with OpenSSL directly (the fuzzer cannot forge an HMAC,
//    so this is how its names reach the JSON reading).
//
// Checked: a refusal never carries a name; an accepted name is non-empty, and the
// input's digest is the lowercase hex HMAC-SHA256 of its data under one of the
// keys, computed here independently; a name the target signed (valid UTF-8, not
// empty, short enough) is accepted and comes back byte for byte.
#include "fuzz_support.hpp"
#include "turbo/signed_stream_name.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <string>
#include <vector>

namespace {

using gw::fuzz::as_text;
using gw::turbo::name_refusal;
using gw::turbo::signed_stream_verifier;

const std::vector<std::string> bases{std::string(128, 'b'), std::string(64, 'o')};

// Rails' key generator, written out here rather than taken from the gateway.
std::string derive(const std::string& base, const EVP_MD* md) {
    std::string key(64, '\0');
    const std::string_view salt = signed_stream_verifier::key_salt;
    PKCS5_PBKDF2_HMAC(base.data(), static_cast<int>(base.size()), reinterpret_cast<const unsigned char*>(salt.data()),
                      static_cast<int>(salt.size()), 1000, md, 64, reinterpret_cast<unsigned char*>(key.data()));
    return key;
}

const std::vector<std::string>& keys() {
    static const std::vector<std::string> k{derive(bases[0], EVP_sha1()), derive(bases[0], EVP_sha256()),
                                            derive(bases[1], EVP_sha1()), derive(bases[1], EVP_sha256())};
    return k;
}

std::string hex_hmac(const std::string& key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), mac.data(), &len);
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        static constexpr char digits[] = "0123456789abcdef";
        out += digits[mac[i] >> 4];
        out += digits[mac[i] & 15];
    }
    return out;
}

std::string base64(std::string_view in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

bool valid_utf8(std::string_view s) {
    rapidjson::MemoryStream in(s.data(), s.size());
    rapidjson::StringBuffer sink;
    while (in.Tell() < s.size())
        if (!rapidjson::UTF8<>::Validate(in, sink)) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
    if (size == 0) return 0;
    static const signed_stream_verifier verifier(bases);
    const auto mode = data[0];
    const auto text = as_text(data + 1, size - 1);

    if (mode % 2 == 0) {
        const auto r = verifier.verify(text);
        fuzz_check(r.ok() == (r.refusal == name_refusal::none));
        if (!r.ok()) {
            fuzz_check(r.name.empty());
            return 0;
        }
        fuzz_check(!r.name.empty());
        fuzz_check(text.size() > 66 && text.substr(text.size() - 66, 2) == "--");
        const auto signed_data = text.substr(0, text.size() - 66);
        const auto digest = text.substr(text.size() - 64);
        bool matches = false;
        for (const auto& k : keys()) matches = matches || hex_hmac(k, signed_data) == digest;
        fuzz_check(matches);
        return 0;
    }

    // JSON.dump(name) as Ruby writes it: a JSON string (escapes may differ; the
    // verifier must read any valid one).
    rapidjson::StringBuffer json;
    rapidjson::Writer<rapidjson::StringBuffer> writer(json);
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    const auto encoded = base64(std::string_view(json.GetString(), json.GetSize()));
    const auto& key = keys()[mode / 2 % keys().size()];
    const auto signed_name = encoded + "--" + hex_hmac(key, encoded);
    const auto r = verifier.verify(signed_name);
    if (signed_name.size() > signed_stream_verifier::max_signed_name) {
        fuzz_check(r.refusal == name_refusal::too_long);
    } else if (text.empty() || !valid_utf8(text)) {
        fuzz_check(!r.ok());
        fuzz_check(r.refusal != name_refusal::bad_signature);
    } else {
        fuzz_check(r.ok());
        fuzz_check(r.name == text);
    }
    return 0;
}
