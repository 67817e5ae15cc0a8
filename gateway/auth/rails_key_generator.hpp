#pragma once
// Rails.application.key_generator: ActiveSupport::KeyGenerator over the app's
// secret_key_base, PBKDF2-HMAC with 1000 iterations. Its hash is SHA1 up to Rails
// 6.1 and SHA256 with Rails 7.0 defaults (key_generator_hash_digest_class), so
// readers of Rails' formats try both. generate_key(salt, size) keeps the first
// `size` bytes: PBKDF2's output prefix does not depend on the length asked for.
// Thread rule: a pure function.
#include <openssl/evp.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace gw::auth {

inline constexpr int rails_key_iterations = 1000;

// Throws std::runtime_error if OpenSSL fails.
std::string rails_generate_key(std::string_view secret_key_base, std::string_view salt, const EVP_MD* digest,
                               std::size_t size);

}  // namespace gw::auth
