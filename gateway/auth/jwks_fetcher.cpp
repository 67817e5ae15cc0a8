#include "auth/jwks_fetcher.hpp"

#include "auth/jwks.hpp"
#include "log.hpp"
#include "net.hpp"

#include <openssl/ssl.h>
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace gw::auth {

namespace ssl = net::ssl;
using clock = std::chrono::steady_clock;

std::optional<fetch_url> parse_fetch_url(std::string_view url) {
    fetch_url u;
    if (url.rfind("https://", 0) == 0) {
        u.tls = true;
        url.remove_prefix(8);
    } else if (url.rfind("http://", 0) == 0) {
        url.remove_prefix(7);
    } else {
        return std::nullopt;
    }
    for (const unsigned char c : url)
        if (c <= 0x20 || c == 0x7f) return std::nullopt;
    url = url.substr(0, url.find('#'));
    const auto end = std::min(url.find('/'), url.find('?'));
    auto authority = url.substr(0, end);
    std::string_view rest = end == std::string_view::npos ? std::string_view{} : url.substr(end);
    if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
    std::string_view host = authority, port;
    if (authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = authority.substr(1, close - 1);
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return std::nullopt;
            port = after.substr(1);
        }
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty()) return std::nullopt;
    if (!port.empty() || authority.back() == ':') {
        unsigned n = 0;
        const auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
        if (ec != std::errc{} || p != port.data() + port.size() || n == 0 || n > 65535) return std::nullopt;
    }
    u.host = std::string(host);
    u.port = port.empty() ? (u.tls ? "443" : "80") : std::string(port);
    u.host_header = std::string(authority);
    u.target = rest.empty() || rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
    return u;
}

bool is_loopback(std::string_view host) {
    if (boost::beast::iequals(host, "localhost")) return true;  // RFC 6761 6.3
    error_code ec;
    const auto a = net::ip::make_address(host, ec);
    return !ec && a.is_loopback();
}

namespace {

std::string display(const fetch_url& u) {
    return (u.tls ? "https://" : "http://") + u.host_header + u.target.substr(0, u.target.find('?'));
}

// One GET, everything under the caller's deadline (the steady timer cancels the
// socket, which ends whichever step is waiting). Throws on any failure.
template <class Stream>
net::awaitable<std::string> get(Stream& stream, const fetch_url& u) {
    http::request<http::empty_body> req{http::verb::get, u.target, 11};
    req.set(http::field::host, u.host_header);
    req.set(http::field::user_agent, "sse-gateway");
    req.set(http::field::accept, "application/jwk-set+json, application/json");
    req.set(http::field::connection, "close");
    co_await http::async_write(stream, req, net::use_awaitable);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(jwks_fetcher::max_body);
    co_await http::async_read(stream, buffer, parser, net::use_awaitable);
    auto res = parser.release();
    if (res.result() != http::status::ok) throw std::runtime_error("HTTP status " + std::to_string(res.result_int()));
    co_return std::move(res.body());
}

}  // namespace

struct jwks_fetcher::impl {
    settings cfg;
    fetch_url url;
    std::function<void(std::vector<jwt_key>)> on_keys;
    counters& stats;
    std::optional<ssl::context> tls;
    net::io_context& ioc;
    net::steady_timer timer{ioc};
    bool in_flight = false;
    bool again = false;  // a refresh was asked for while a fetch was in flight
    clock::time_point last_attempt{};
    std::size_t key_count = 0;
    std::string last_kids;  // the kids last published, to log a change once

    impl(net::io_context& io, settings s, fetch_url u, std::function<void(std::vector<jwt_key>)> f, counters& c)
        : cfg(std::move(s)), url(std::move(u)), on_keys(std::move(f)), stats(c), ioc(io) {}

    // What a fetch and its deadline share; the deadline's handler keeps it alive,
    // so a fetch that ends just as the deadline fires touches nothing freed.
    struct connection {
        tcp::resolver resolver;
        beast::tcp_stream stream;
        bool expired = false;
        explicit connection(const net::any_io_executor& ex) : resolver(ex), stream(ex) {}
    };

    net::awaitable<std::string> fetch() {
        auto ex = co_await net::this_coro::executor;
        auto c = std::make_shared<connection>(ex);
        // The resolver has no deadline of its own: one timer cancels whatever step
        // the fetch is in when it expires.
        net::steady_timer deadline(ex);
        deadline.expires_after(cfg.timeout);
        deadline.async_wait([c](error_code ec) {
            if (ec) return;
            c->expired = true;
            c->resolver.cancel();
            c->stream.socket().close(ec);
        });
        try {
            const auto endpoints = co_await c->resolver.async_resolve(url.host, url.port, net::use_awaitable);
            co_await c->stream.async_connect(endpoints, net::use_awaitable);
            if (!tls) co_return co_await get(c->stream, url);
            beast::ssl_stream<beast::tcp_stream&> tls_stream(c->stream, *tls);
            tls_stream.set_verify_mode(ssl::verify_peer);
            tls_stream.set_verify_callback(ssl::host_name_verification(url.host));
            error_code not_ip;
            net::ip::make_address(url.host, not_ip);
            // SNI names hosts, never addresses (RFC 6066 3).
            if (not_ip && !SSL_set_tlsext_host_name(tls_stream.native_handle(), url.host.c_str()))
                throw std::runtime_error("cannot set the TLS server name");
            co_await tls_stream.async_handshake(ssl::stream_base::client, net::use_awaitable);
            co_return co_await get(tls_stream, url);
        } catch (const boost::system::system_error&) {
            if (c->expired) throw std::runtime_error("no answer within " + std::to_string(cfg.timeout.count()) + " s");
            throw;
        }
    }

    void do_fetch() {
        in_flight = true;
        again = false;
        last_attempt = clock::now();
        net::co_spawn(ioc, fetch(), [this](std::exception_ptr e, std::string body) { on_fetch(e, std::move(body)); });
    }

    void on_fetch(std::exception_ptr e, std::string body) {
        in_flight = false;
        std::string error;
        if (!e) {
            try {
                publish(parse_jwks(body));
            } catch (const std::exception& x) {
                error = std::string("not a usable key set: ") + x.what();
            }
        } else {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                error = x.what();
            }
        }
        if (!error.empty()) {
            stats.failed.inc();
            stats.up.set(0);
            log::warn("jwks fetch failed")
                .str("url", display(url))
                .str("error", error)
                .num("keys_kept", static_cast<std::int64_t>(key_count))
                .num("retry_seconds", static_cast<std::int64_t>(cfg.min_interval.count()));
        }
        auto next = clock::now() + (error.empty() ? std::chrono::seconds(cfg.refresh) : cfg.min_interval);
        if (again) next = std::min(next, last_attempt + cfg.min_interval);
        schedule(next);
    }

    void publish(jwks_keys got) {
        stats.refused.inc(got.refused.size());
        log_refused(got.refused, "url");
        std::string kids;
        for (const auto& k : got.keys) kids += (kids.empty() ? "" : ",") + k.kid();
        key_count = got.keys.size();
        on_keys(std::move(got.keys));
        stats.fetched.inc();
        stats.keys.set(static_cast<std::int64_t>(key_count));
        stats.up.set(1);
        stats.last_success_unix.set(
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
        // Key ids are public (the provider publishes them); the keys are not logged.
        const bool changed = kids != last_kids || stats.fetched.value() == 1;
        (changed ? log::info("jwks keys updated") : log::debug("jwks fetched"))
            .str("url", display(url))
            .num("keys", static_cast<std::int64_t>(key_count))
            .num("skipped", static_cast<std::int64_t>(got.skipped))
            .str("kids", kids);
        last_kids = std::move(kids);
    }

    void schedule(clock::time_point at) {
        // Setting the expiry cancels the wait in progress, whose handler then does nothing.
        timer.expires_at(at);
        timer.async_wait([this](error_code ec) {
            if (!ec) do_fetch();
        });
    }

    void refresh_soon() {
        if (in_flight) {
            again = true;
            return;
        }
        const auto earliest = std::max(clock::now(), last_attempt + cfg.min_interval);
        if (timer.expiry() > earliest) schedule(earliest);
    }
};

jwks_fetcher::jwks_fetcher(net::io_context& ioc, settings s, std::function<void(std::vector<jwt_key>)> on_keys) {
    auto url = parse_fetch_url(s.url);
    if (!url) throw std::invalid_argument("--jwt-jwks-url: expected http(s)://host[:port]/path (no user@)");
    // Over plain http anyone on the path can hand us signing keys: only loopback,
    // unless the operator says the path is trusted (in-cluster traffic, say).
    if (!url->tls && s.plain_http == plain_http_policy::loopback_only && !is_loopback(url->host))
        throw std::invalid_argument(
            "--jwt-jwks-url: http:// to a host that is not loopback lets anyone on the path inject signing keys; "
            "use https:// or, if that path is trusted, --jwt-jwks-allow-http");
    display_url_ = display(*url);
    const bool tls = url->tls;
    const std::string ca_file = s.ca_file;
    impl_ = std::make_unique<impl>(ioc, std::move(s), std::move(*url), std::move(on_keys), stats_);
    if (!tls) return;
    impl_->tls.emplace(ssl::context::tls_client);
    error_code ec;
    if (ca_file.empty())
        impl_->tls->set_default_verify_paths(ec);
    else
        impl_->tls->load_verify_file(ca_file, ec);
    if (ec) throw std::invalid_argument("--jwt-jwks-ca-file: cannot load '" + ca_file + "'");
}

jwks_fetcher::~jwks_fetcher() = default;

void jwks_fetcher::start() {
    net::post(impl_->ioc, [i = impl_.get()] { i->do_fetch(); });
}

void jwks_fetcher::request_refresh() {
    // At most one post in flight, however many requests name unknown kids.
    if (refresh_posted_.exchange(true)) return;
    net::post(impl_->ioc, [this] {
        refresh_posted_.store(false);
        impl_->refresh_soon();
    });
}

}  // namespace gw::auth
