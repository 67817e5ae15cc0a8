#include "auth/auth_chain.hpp"

#include "auth/jwks.hpp"
#include "auth/jwks_fetcher.hpp"
#include "auth/jwt_auth.hpp"
#include "auth/key_files.hpp"
#include "auth/proxy_header.hpp"
#include "auth/rails_session_auth.hpp"
#include "log.hpp"

#include <csignal>
#include <stdexcept>

namespace gw::auth {

namespace {

bool has_mode(const config& cfg, std::string_view mode) {
    for (const auto& m : cfg.auth_modes)
        if (m == mode) return true;
    return false;
}

// One rule per kind of secret, the same for the flag and for each line of its file.
struct secret_rule {
    std::string_view flag;
    std::string_view file_flag;
    std::size_t min_bytes;
    std::string_view what;
};

// The proxy secret is a shared password between two machines: as long as an HS256 key.
constexpr secret_rule proxy_rule{"proxy-secret", "proxy-secret-file", 32, "a proxy secret"};
// RFC 7518 3.2: an HS256 key must be at least as long as the hash output.
constexpr secret_rule hs256_rule{"jwt-secret", "jwt-secret-file", 32, "an HS256 secret"};
// Rails' own floor: ActiveSupport::LegacyKeyGenerator::SECRET_MIN_LENGTH = 30
// (activesupport/lib/active_support/key_generator.rb, Rails 4.x: "Set a
// secret_key_base of at least 30 characters"), the strictest check Rails has made;
// Rails 5.2+ only refuses a blank one, and `rails secret` makes 128 hex digits.
constexpr secret_rule rails_rule{"rails-secret-key-base", "rails-secret-key-base-file", 30, "a secret_key_base"};

// The flag's value first, then the file's lines; each must pass the rule.
std::vector<std::string> secrets_from(const secret_rule& rule, const std::string& value, const std::string& file,
                                      key_files::read_budget& budget) {
    const std::string need =
        "is shorter than the " + std::to_string(rule.min_bytes) + " bytes " + std::string(rule.what) + " needs";
    std::vector<std::string> out;
    if (!value.empty()) {
        if (value.size() < rule.min_bytes) throw std::invalid_argument("--" + std::string(rule.flag) + " " + need);
        out.push_back(value);
    }
    if (!file.empty()) {
        for (auto& s : key_files::read_secrets(file, rule.file_flag, budget)) {
            if (s.text.size() < rule.min_bytes)
                throw std::invalid_argument("--" + std::string(rule.file_flag) + ": '" + file + "' line " +
                                            std::to_string(s.line) + " " + need);
            out.push_back(std::move(s.text));
        }
    }
    return out;
}

// Prefixes a parse error with the flag and the file it came from.
template <class F>
auto from_file(std::string_view flag, const std::string& path, F&& parse) {
    try {
        return parse();
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("--" + std::string(flag) + " '" + path + "': " + e.what());
    }
}

// Keys of the `files` source: secrets or PEM keys for --jwt-alg, and a JWKS file.
// Keys a JWKS file holds but that are refused are logged and counted in `refused`.
std::vector<jwt_key> jwt_file_keys(const config& cfg, key_files::read_budget& budget, std::size_t& refused) {
    const auto alg = parse_jwt_alg(cfg.jwt_alg);
    if (!alg) throw std::invalid_argument("--jwt-alg must be HS256, RS256 or ES256");
    const bool has_jwks = !cfg.jwt_jwks.empty() || !cfg.jwt_jwks_url.empty();
    std::vector<jwt_key> keys;
    if (*alg == jwt_alg::hs256) {
        const auto secrets = secrets_from(hs256_rule, cfg.jwt_secret, cfg.jwt_secret_file, budget);
        if (secrets.empty() && !has_jwks)
            throw std::invalid_argument("jwt mode with HS256 needs --jwt-secret or --jwt-secret-file (or a JWKS)");
        for (const auto& s : secrets) keys.push_back(jwt_key::hmac(s));
    } else if (!cfg.jwt_public_key.empty()) {
        for (const auto& f : key_files::read_file_or_directory(cfg.jwt_public_key, "jwt-public-key", budget)) {
            auto pem = from_file("jwt-public-key", f.path, [&] { return jwt_key::from_pem(*alg, f.text); });
            keys.insert(keys.end(), pem.begin(), pem.end());
        }
    } else if (!has_jwks) {
        throw std::invalid_argument("jwt mode with " + cfg.jwt_alg +
                                    " needs --jwt-public-key (a PEM file or directory) or a JWKS");
    }
    if (!cfg.jwt_jwks.empty()) {
        const auto text = key_files::read_file(cfg.jwt_jwks, "jwt-jwks", budget);
        auto set = from_file("jwt-jwks", cfg.jwt_jwks, [&] { return parse_jwks(text); });
        log_refused(set.refused, "files");
        refused += set.refused.size();
        keys.insert(keys.end(), set.keys.begin(), set.keys.end());
    }
    return keys;
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

// Every credential the configured modes check, read afresh.
struct auth_chain::loaded {
    std::vector<std::string> proxy_secrets;
    std::vector<jwt_key> jwt_keys;
    std::vector<std::string> rails_bases;
};

auth_chain::loaded auth_chain::load() const {
    loaded l;
    key_files::read_budget budget;
    if (has_mode(cfg_, "proxy-header"))
        l.proxy_secrets = secrets_from(proxy_rule, cfg_.proxy_secret, cfg_.proxy_secret_file, budget);
    if (has_mode(cfg_, "jwt")) {
        std::size_t refused = 0;
        l.jwt_keys = jwt_file_keys(cfg_, budget, refused);
        keys_refused_.inc(refused);
    }
    if (has_mode(cfg_, "rails-session") || rails_sink_)
        l.rails_bases = secrets_from(rails_rule, cfg_.rails_secret_key_base, cfg_.rails_secret_key_base_file, budget);
    return l;
}

std::string auth_chain::file_state() const {
    std::string state;
    key_files::read_budget budget;
    for (const auto* path : {&cfg_.proxy_secret_file, &cfg_.jwt_secret_file, &cfg_.jwt_public_key, &cfg_.jwt_jwks,
                             &cfg_.rails_secret_key_base_file}) {
        if (path->empty()) continue;
        try {
            for (const auto& f : key_files::read_file_or_directory(*path, "file", budget))
                state.append(f.path).append(1, '\0').append(f.text).append(1, '\0');
        } catch (const std::invalid_argument& e) {
            state.append(e.what()).append(1, '\0');
        }
    }
    return state;
}

auth_chain::auth_chain(const config& cfg) : auth_chain(cfg, {}) {}

auth_chain::auth_chain(const config& cfg, rails_bases_sink sink) : cfg_(cfg), rails_sink_(std::move(sink)) {
    if (cfg_.credentials_watch.count() > 0) watched_ = file_state();
    auto keys = load();
    for (const auto& mode : cfg_.auth_modes) {
        if (mode == "proxy-header") {
            if (keys.proxy_secrets.empty() && !cfg_.allow_insecure_proxy_header)
                throw std::invalid_argument(
                    "proxy-header mode needs --proxy-secret or --proxy-secret-file (or "
                    "--allow-insecure-proxy-header for development)");
            auto p = std::make_unique<proxy_header>(cfg_.proxy_header, cfg_.proxy_secret_header, keys.proxy_secrets,
                                                    network_list(cfg_.proxy_networks));
            proxy_ = p.get();
            modes_.push_back(std::move(p));
        } else if (mode == "jwt") {
            jwt_verifier::options o;
            o.alg.clear();
            o.keys = keys.jwt_keys;
            o.audience = cfg_.jwt_audience;
            o.issuer = cfg_.jwt_issuer;
            o.claim = cfg_.jwt_claim;
            o.leeway = cfg_.jwt_leeway.count();
            o.require_exp = cfg_.jwt_require_exp;
            std::unique_ptr<jwt_auth> j;
            try {
                j = std::make_unique<jwt_auth>(std::move(o), cfg_.jwt_cookie);
            } catch (const std::invalid_argument& e) {
                throw std::invalid_argument(std::string("jwt mode: ") + e.what());
            }
            if (!cfg_.jwt_jwks_url.empty()) {
                jwks_fetcher::settings s;
                s.url = cfg_.jwt_jwks_url;
                s.ca_file = cfg_.jwt_jwks_ca_file;
                s.refresh = cfg_.jwt_jwks_refresh;
                s.min_interval = cfg_.jwt_jwks_min_refresh;
                s.plain_http = cfg_.jwt_jwks_allow_http ? jwks_fetcher::plain_http_policy::allowed
                                                        : jwks_fetcher::plain_http_policy::loopback_only;
                auto* target = j.get();
                jwks_ = std::make_unique<jwks_fetcher>(keeper_ioc_, std::move(s), [target](std::vector<jwt_key> k) {
                    target->set_keys(jwt_auth::key_source::remote, std::move(k));
                });
                j->on_unknown_kid([f = jwks_.get()] { f->request_refresh(); });
            }
            jwt_ = j.get();
            modes_.push_back(std::move(j));
        } else if (mode == "rails-session") {
            if (keys.rails_bases.empty())
                throw std::invalid_argument(
                    "rails-session mode needs --rails-secret-key-base or --rails-secret-key-base-file");
            if (cfg_.rails_cookie.empty())
                throw std::invalid_argument("rails-session mode needs --rails-cookie (the session cookie name)");
            try {
                auto r =
                    std::make_unique<rails_session_auth>(keys.rails_bases, cfg_.rails_cookie, cfg_.rails_key_digest,
                                                         cfg_.rails_session_key, cfg_.rails_fallback_key);
                rails_ = r.get();
                modes_.push_back(std::move(r));
            } catch (const std::invalid_argument& e) {
                throw std::invalid_argument(std::string("rails-session mode: ") + e.what());
            }
        } else {
            throw std::invalid_argument("unknown auth mode '" + mode + "'");
        }
        mode_names_.push_back(mode);
    }
    // Routes whose signature is their authorization (Turbo) need no mode; the
    // configuration refuses a user route without one (config.cpp).
    if (modes_.empty() && cfg_.routes.empty()) throw std::invalid_argument("--auth names no mode");
    if (rails_sink_) {
        if (keys.rails_bases.empty())
            throw std::invalid_argument(
                "a turbo-signed-stream route needs --rails-secret-key-base or --rails-secret-key-base-file");
        rails_sink_(keys.rails_bases);
    }
    proxy_secrets_.set(static_cast<std::int64_t>(keys.proxy_secrets.size()));
    rails_bases_.set(static_cast<std::int64_t>(keys.rails_bases.size()));
}

auth_chain::auth_chain(std::vector<std::unique_ptr<authenticator>> modes) : modes_(std::move(modes)) {}

auth_chain::~auth_chain() {
    stop();
    // The fetcher's timer lives on keeper_ioc_, which must outlive it; the handlers
    // still queued there (an abandoned fetch) own what they use, and go with the loop.
    jwks_.reset();
}

auth_result auth_chain::authenticate(const request_context& req) const {
    auth_result best = auth_result::none(reason::missing_credentials);
    bool first = true;
    for (const auto& m : modes_) {
        auto r = m->authenticate(req);
        if (r.what == outcome::ok) return r;
        if (first || rank(r.what) > rank(best.what)) best = std::move(r);
        first = false;
    }
    return best;
}

auth_result auth_chain::authenticate(const request_context& req, const std::vector<std::string>& modes) const {
    auth_result best = auth_result::none(reason::missing_credentials);
    bool first = true;
    for (const auto& name : modes) {
        for (std::size_t i = 0; i < mode_names_.size(); ++i) {
            if (mode_names_[i] != name) continue;
            auto r = modes_[i]->authenticate(req);
            if (r.what == outcome::ok) return r;
            if (first || rank(r.what) > rank(best.what)) best = std::move(r);
            first = false;
        }
    }
    return best;
}

void auth_chain::start() {
    if (keeper_.joinable()) return;
    sighup_.emplace(keeper_ioc_, SIGHUP);
    do_wait_sighup();
    if (cfg_.credentials_watch.count() > 0) {
        watch_timer_.emplace(keeper_ioc_);
        do_watch();
    }
    if (jwks_) jwks_->start();
    keeper_ = std::thread([this] { keeper_ioc_.run(); });
}

void auth_chain::stop() {
    if (!keeper_.joinable()) return;
    // Nothing on this loop serves a client: a JWKS fetch in flight is abandoned and
    // freed with the loop's handlers, so stopping the loop is the whole drain.
    keeper_ioc_.stop();
    keeper_.join();
}

void auth_chain::do_wait_sighup() {
    sighup_->async_wait([this](error_code ec, int) {
        if (ec) return;
        log::info("SIGHUP: reloading credentials");
        reload();
        do_wait_sighup();
    });
}

bool auth_chain::keys_ready() const {
    return !jwks_ || jwks_->loaded();
}

void auth_chain::do_watch() {
    watch_timer_->expires_after(cfg_.credentials_watch);
    watch_timer_->async_wait([this](error_code ec) {
        if (ec) return;
        bool changed = false;
        {
            std::lock_guard lock(reload_mutex_);
            changed = file_state() != watched_;
        }
        if (changed) {
            log::info("credential files changed: reloading");
            reload();
        }
        do_watch();
    });
}

auth_chain::reload_result auth_chain::reload() {
    std::lock_guard lock(reload_mutex_);
    // Taken before the files are read: a change made meanwhile is seen by the next look.
    if (cfg_.credentials_watch.count() > 0) watched_ = file_state();
    reload_result result;
    try {
        auto keys = load();
        // Everything that can fail is done before anything is put in force.
        std::shared_ptr<const rails_session> rails;
        if (rails_) rails = rails_->decoder_for(keys.rails_bases);
        if (rails_sink_ && keys.rails_bases.empty()) throw std::invalid_argument("no secret_key_base is left");
        if (proxy_ && !keys.proxy_secrets.empty()) proxy_->set_secrets(keys.proxy_secrets);
        if (jwt_) jwt_->set_keys(jwt_auth::key_source::files, std::move(keys.jwt_keys));
        if (rails_) rails_->set_decoder(std::move(rails));
        if (rails_sink_) rails_sink_(keys.rails_bases);
        proxy_secrets_.set(static_cast<std::int64_t>(keys.proxy_secrets.size()));
        rails_bases_.set(static_cast<std::int64_t>(keys.rails_bases.size()));
        result.ok = true;
    } catch (const std::exception& e) {
        result.error = e.what();
    }
    if (result.ok) {
        reloads_ok_.inc();
        log::info("credentials reloaded")
            .num("proxy_secrets", proxy_secrets_.value())
            .num("jwt_keys", jwt_ ? static_cast<std::int64_t>(jwt_->key_count()) : 0)
            .num("rails_secret_key_bases", rails_bases_.value());
    } else {
        reloads_failed_.inc();
        log::error("credentials reload failed; the previous ones stay in force").str("error", result.error);
    }
    return result;
}

void auth_chain::write_metrics(metrics::exposition& m) const {
    m.header("config_reloads_total", "counter", "Reloads of the credential files (SIGHUP), by result.");
    m.sample("config_reloads_total", "result", "ok", static_cast<double>(reloads_ok_.value()));
    m.sample("config_reloads_total", "result", "failed", static_cast<double>(reloads_failed_.value()));
    m.header("auth_keys", "gauge", "Credentials in force per identity mode (secrets, keys, secret_key_base values).");
    if (proxy_) m.sample("auth_keys", "mode", "proxy-header", static_cast<double>(proxy_secrets_.value()));
    if (jwt_) m.sample("auth_keys", "mode", "jwt", static_cast<double>(jwt_->key_count()));
    if (rails_) m.sample("auth_keys", "mode", "rails-session", static_cast<double>(rails_bases_.value()));
    if (jwt_) {
        m.header("jwt_keys_refused_total", "counter",
                 "Keys of a key set refused (unsound RSA or EC key, a kid given twice), at each load or fetch.");
        m.sample("jwt_keys_refused_total", "source", "files", static_cast<double>(keys_refused_.value()));
        if (jwks_)
            m.sample("jwt_keys_refused_total", "source", "url", static_cast<double>(jwks_->stats().refused.value()));
    }
    if (!jwks_) return;
    const auto& s = jwks_->stats();
    m.header("jwks_fetches_total", "counter", "Fetches of --jwt-jwks-url, by result.");
    m.sample("jwks_fetches_total", "result", "ok", static_cast<double>(s.fetched.value()));
    m.sample("jwks_fetches_total", "result", "failed", static_cast<double>(s.failed.value()));
    m.gauge("jwks_keys", "Keys in use from the last good fetch of --jwt-jwks-url.", s.keys.value());
    m.gauge("jwks_up", "1 when the last fetch of --jwt-jwks-url worked (its keys stay in use either way).",
            s.up.value());
    m.gauge("jwks_last_success_timestamp_seconds", "Unix time of the last good fetch of --jwt-jwks-url (0: none yet).",
            s.last_success_unix.value());
}

}  // namespace gw::auth
