#include "auth/auth_chain.hpp"

#include "auth/jwt_auth.hpp"
#include "auth/proxy_header.hpp"
#include "auth/rails_session_auth.hpp"
#include "config.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>

namespace gw::auth {

namespace {

// RFC 7518 3.2: an HS256 key must be at least as long as the hash output.
constexpr std::size_t min_hs256_secret = 32;
constexpr std::size_t max_pem_size = 64 * 1024;

std::string read_pem(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::invalid_argument("cannot read --jwt-public-key file '" + path + "'");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad() || text.empty() || text.size() > max_pem_size)
        throw std::invalid_argument("--jwt-public-key file '" + path + "' is empty, unreadable or too large");
    return text;
}

std::unique_ptr<authenticator> make_jwt(const config& cfg) {
    jwt_verifier::options o;
    o.alg = cfg.jwt_alg;
    if (cfg.jwt_alg == "HS256") {
        if (cfg.jwt_secret.empty()) throw std::invalid_argument("jwt mode with HS256 needs --jwt-secret");
        if (cfg.jwt_secret.size() < min_hs256_secret)
            throw std::invalid_argument("--jwt-secret must be at least 32 bytes for HS256");
        o.key = cfg.jwt_secret;
    } else if (cfg.jwt_alg == "RS256" || cfg.jwt_alg == "ES256") {
        if (cfg.jwt_public_key.empty())
            throw std::invalid_argument("jwt mode with " + cfg.jwt_alg + " needs --jwt-public-key (a PEM file)");
        o.key = read_pem(cfg.jwt_public_key);
    } else {
        throw std::invalid_argument("--jwt-alg must be HS256, RS256 or ES256");
    }
    o.audience = cfg.jwt_audience;
    o.issuer = cfg.jwt_issuer;
    o.claim = cfg.jwt_claim;
    o.leeway = cfg.jwt_leeway.count();
    o.require_exp = cfg.jwt_require_exp;
    try {
        return std::make_unique<jwt_auth>(jwt_verifier(std::move(o)), cfg.jwt_cookie);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("jwt mode: ") + e.what());
    }
}

std::unique_ptr<authenticator> make_rails(const config& cfg) {
    if (cfg.rails_secret_key_base.empty())
        throw std::invalid_argument("rails-session mode needs --rails-secret-key-base");
    if (cfg.rails_cookie.empty())
        throw std::invalid_argument("rails-session mode needs --rails-cookie (the session cookie name)");
    try {
        return std::make_unique<rails_session_auth>(cfg.rails_secret_key_base, cfg.rails_cookie, cfg.rails_key_digest,
                                                    cfg.rails_session_key, cfg.rails_fallback_key);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("rails-session mode: ") + e.what());
    }
}

std::unique_ptr<authenticator> make_mode(const std::string& mode, const config& cfg) {
    if (mode == "proxy-header") {
        if (cfg.proxy_secret.empty() && !cfg.allow_insecure_proxy_header)
            throw std::invalid_argument(
                "proxy-header mode needs --proxy-secret (or --allow-insecure-proxy-header for development)");
        return std::make_unique<proxy_header>(cfg.proxy_header, cfg.proxy_secret_header, cfg.proxy_secret,
                                              network_list(cfg.proxy_networks));
    }
    if (mode == "jwt") return make_jwt(cfg);
    if (mode == "rails-session") return make_rails(cfg);
    throw std::invalid_argument("unknown auth mode '" + mode + "'");
}

int rank(outcome o) {
    switch (o) {
        case outcome::invalid:
            return 3;
        case outcome::forbidden:
            return 2;
        case outcome::no_credentials:
            return 1;
        case outcome::ok:
            return 4;
    }
    return 0;
}

}  // namespace

auth_chain::auth_chain(const config& cfg) {
    for (const auto& m : cfg.auth_modes) modes_.push_back(make_mode(m, cfg));
    if (modes_.empty()) throw std::invalid_argument("--auth names no mode");
}

auth_chain::auth_chain(std::vector<std::unique_ptr<authenticator>> modes) : modes_(std::move(modes)) {}

auth_result auth_chain::authenticate(const request_context& req) const {
    auth_result best = auth_result::none("missing_credentials");
    bool first = true;
    for (const auto& m : modes_) {
        auto r = m->authenticate(req);
        if (r.what == outcome::ok) return r;
        if (first || rank(r.what) > rank(best.what)) best = std::move(r);
        first = false;
    }
    return best;
}

}  // namespace gw::auth
