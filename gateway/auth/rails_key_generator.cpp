#include "auth/rails_key_generator.hpp"

#include <stdexcept>

namespace gw::auth {

std::string rails_generate_key(std::string_view secret_key_base, std::string_view salt, const EVP_MD* digest,
                               std::size_t size) {
    std::string out(size, '\0');
    if (PKCS5_PBKDF2_HMAC(secret_key_base.data(), static_cast<int>(secret_key_base.size()),
                          reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                          rails_key_iterations, digest, static_cast<int>(size),
                          reinterpret_cast<unsigned char*>(out.data())) != 1)
        throw std::runtime_error("PBKDF2 failed deriving a Rails key");
    return out;
}

}  // namespace gw::auth
