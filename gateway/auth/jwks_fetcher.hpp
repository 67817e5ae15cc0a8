#pragma once
// Keeps the keys of a JWKS URL (http:// or https://) current, off the event loops:
// fetched at start(), again every `refresh`, and sooner when request_refresh() asks
// (a token named a kid no key carries) -- but never more often than once per
// `min_interval`, so tokens with made-up kids cannot make the gateway hammer the
// identity provider. A fetch that fails (connection, TLS, HTTP status, a body that
// is no usable key set) keeps the keys last fetched in use, is counted and logged,
// and is retried after min_interval. Keys are handed over by on_keys, whole.
//
// The path of a fetch: request_refresh() (any thread; one post in flight at most)
// -> the given io_context, which is no event loop's (auth_chain runs it on a thread of
// its own): resolve, connect, TLS handshake with peer and host name verification,
// GET, read at most max_body bytes, all under one deadline -> parse_jwks -> on_keys
// (on that io_context's thread).
//
// Thread rule: runs on the io_context it is given (single-threaded); start(),
// request_refresh(), loaded() and stats() may be called from any thread. Destroy
// it after that io_context has stopped and before it is destroyed (its timer is
// one of that io_context's objects); a fetch still queued there may go after it.
#include "auth/jwt_key.hpp"
#include "metrics.hpp"
#include "net.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::auth {

// The parts of an http(s) URL a fetch needs. No user:password@ (credentials do not
// belong in a URL that is logged and shown in --help listings of the pod spec).
struct fetch_url {
    bool tls = false;
    std::string host;         // without the brackets of an IPv6 literal
    std::string port;         // "80"/"443" unless given
    std::string target;       // path and query, at least "/"
    std::string host_header;  // host[:port] as the Host header carries it
};

// nullopt for anything but http://host[:port][/path][?query] (a #fragment is dropped).
std::optional<fetch_url> parse_fetch_url(std::string_view url);

// "localhost" (any case) or a loopback address literal (127.0.0.0/8, ::1).
bool is_loopback(std::string_view host);

class jwks_fetcher {
public:
    static constexpr std::size_t max_body = 1024 * 1024;

    // Whether an http:// URL may name a host that is not loopback.
    enum class plain_http_policy { loopback_only, allowed };

    struct settings {
        std::string url;
        plain_http_policy plain_http = plain_http_policy::loopback_only;
        std::string ca_file;  // PEM CAs for https; empty: the system's
        std::chrono::seconds refresh{300};
        std::chrono::seconds min_interval{15};
        std::chrono::seconds timeout{10};  // the whole of one fetch
    };

    struct counters {
        metrics::counter fetched;  // fetches that brought a usable key set
        metrics::counter failed;
        metrics::counter refused;          // keys refused by parse_jwks, at each fetch
        metrics::gauge keys;               // keys in use from the last good fetch
        metrics::gauge up;                 // 1 when the last fetch worked
        metrics::gauge last_success_unix;  // seconds; 0 before the first
    };

    // Throws std::invalid_argument (one line, not echoing the URL) for a URL
    // parse_fetch_url refuses, an http:// URL to a host that is not loopback
    // unless plain_http is allowed, or a CA file that does not load.
    jwks_fetcher(net::io_context& ioc, settings s, std::function<void(std::vector<jwt_key>)> on_keys);
    ~jwks_fetcher();
    jwks_fetcher(const jwks_fetcher&) = delete;
    jwks_fetcher& operator=(const jwks_fetcher&) = delete;

    void start();  // the first fetch starts now
    void request_refresh();

    bool loaded() const { return stats_.last_success_unix.value() > 0; }
    const counters& stats() const { return stats_; }
    // scheme://host:port/path, without the query: what logs may show of the URL.
    const std::string& display_url() const { return display_url_; }

private:
    struct impl;
    counters stats_;  // before impl_, which holds a reference to it
    std::unique_ptr<impl> impl_;
    std::string display_url_;
    std::atomic<bool> refresh_posted_{false};
};

}  // namespace gw::auth
