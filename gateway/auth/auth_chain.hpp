#pragma once
// The configured identity modes, tried in order. The first mode that names a user
// wins. When none does, the most telling refusal is answered: credentials that
// were present and failed a check (401) beat a refused proxy (403), which beats
// "nothing to go on" (401).
//
// The chain also owns where the modes' credentials come from: the secrets and keys
// given by flags, the files (--proxy-secret-file, --jwt-secret-file,
// --jwt-public-key, --jwt-jwks, --rails-secret-key-base-file) that reload()
// re-reads, and a JWKS URL fetched in the background. Each mode holds its
// credentials as one immutable set that a reload or a fetch replaces whole, so
// streams already open are never touched by a rotation.
//
// Between start() and stop() a thread of the chain's own (no event loop's: a slow file
// or a slow identity provider never delays an event) waits for SIGHUP, which
// reloads, looks at the files every --credentials-watch-seconds and reloads when
// their contents changed, and runs the JWKS URL's fetches.
//
// Thread rule: authenticate() runs concurrently on every loop thread; start()
// and stop() from the thread that owns the chain; reload() (serialised),
// write_metrics() and keys_ready() from any thread.
#include "auth/authenticator.hpp"
#include "config.hpp"
#include "metrics.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gw::auth {

class jwks_fetcher;
class jwt_auth;
class proxy_header;
class rails_session_auth;

class auth_chain {
public:
    // Builds the modes named in cfg.auth_modes and reads their credentials; throws
    // std::invalid_argument with a one-line reason (never a secret) for an unknown
    // mode, an unusable mode configuration, or a credential file that does not read
    // or parse.
    explicit auth_chain(const config& cfg);
    // Also hands every secret_key_base it loads to `sink`: at construction, and
    // at each reload that succeeds, as the last step of putting it in force (the
    // Turbo routes' signed-stream verifier). With a sink, no secret_key_base at
    // all is an error, like a rails-session mode without one.
    using rails_bases_sink = std::function<void(const std::vector<std::string>&)>;
    auth_chain(const config& cfg, rails_bases_sink sink);
    explicit auth_chain(std::vector<std::unique_ptr<authenticator>> modes);
    ~auth_chain();

    auth_result authenticate(const request_context& req) const;
    // The same, trying only `modes` (names from cfg.auth_modes), in their order:
    // one chain serves routes that each name their own modes.
    auth_result authenticate(const request_context& req, const std::vector<std::string>& modes) const;

    // The credentials thread: SIGHUP (and, when configured, a change of the files)
    // reloads from start() on, and a JWKS URL is fetched; stop() ends all of it (a
    // fetch in flight is abandoned). Idempotent.
    void start();
    void stop();
    // False until every background key source has brought its first keys.
    bool keys_ready() const;

    struct reload_result {
        bool ok = false;
        std::string error;  // when !ok: what failed to read or parse; names no secret
    };
    // Re-reads every file-based credential. All or nothing: when any source fails,
    // every mode keeps what it had. Logs the outcome and counts it.
    reload_result reload();

    // Reloads by result, credentials in force per mode, and the JWKS URL's fetches.
    void write_metrics(metrics::exposition& m) const;

private:
    struct loaded;
    loaded load() const;
    // Every credential file's bytes (or why it cannot be read): what a watch compares.
    std::string file_state() const;

    config cfg_;
    rails_bases_sink rails_sink_;
    std::vector<std::unique_ptr<authenticator>> modes_;
    std::vector<std::string> mode_names_;  // modes_[i]'s name (empty for the modes-given constructor's)
    // The modes whose credentials rotate, when configured (owned by modes_).
    proxy_header* proxy_ = nullptr;
    jwt_auth* jwt_ = nullptr;
    rails_session_auth* rails_ = nullptr;
    std::unique_ptr<jwks_fetcher> jwks_;  // reset before keeper_ioc_ goes (see ~auth_chain)

    void do_wait_sighup();
    void do_watch();
    // Destroyed before the modes its handlers call into; after the fetcher (reset
    // explicitly) and the I/O objects below, which need it.
    net::io_context keeper_ioc_{1};
    std::optional<net::signal_set> sighup_;
    std::optional<net::steady_timer> watch_timer_;
    std::thread keeper_;

    std::mutex reload_mutex_;                // serialises reload(); guards watched_
    std::string watched_;                    // file_state() when credentials were last loaded
    mutable metrics::counter keys_refused_;  // keys of a JWKS file refused, at each load
    metrics::counter reloads_ok_;
    metrics::counter reloads_failed_;
    metrics::gauge proxy_secrets_;
    metrics::gauge rails_bases_;
};

}  // namespace gw::auth
