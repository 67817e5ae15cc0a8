#include "config.hpp"

#include "config_file.hpp"
#include "log.hpp"
#include "sse_frame.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <thread>

namespace gw {

namespace {

// One row per option: the flag, what --help says, and how a value is applied.
// The env twin is derived: --max-connections <-> SSE_GATEWAY_MAX_CONNECTIONS.
struct option {
    std::string_view flag;
    std::string_view value_name;  // empty for switches that take no value
    std::string_view default_text;
    std::string_view help;
    void (*apply)(config&, const std::string& flag, const std::string& value);
};

// A value as an error message shows it: control bytes escaped, so the message stays
// the one line main() prints (an env value read from a file may end in a newline).
std::string escaped(std::string_view v) {
    std::string out;
    for (const unsigned char c : v) {
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

[[noreturn]] void bad(const std::string& flag, std::string_view why) {
    throw config_error("--" + flag + ": " + std::string(why));
}

template <class T>
T to_uint(const std::string& flag, const std::string& v, T min, T max) {
    unsigned long long n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || p != v.data() + v.size() || v.empty())
        bad(flag, "expected a whole number, got '" + escaped(v) + "'");
    if (n < min || n > max) bad(flag, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return static_cast<T>(n);
}

bool to_bool(const std::string& flag, const std::string& v) {
    if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
    if (v == "0" || v == "false" || v == "no" || v == "off") return false;
    bad(flag, "expected true or false, got '" + escaped(v) + "'");
}

std::vector<std::string> to_list(const std::string& v) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= v.size()) {
        auto end = std::min(v.find(',', pos), v.size());
        auto item = v.substr(pos, end - pos);
        auto b = item.find_first_not_of(" \t");
        auto e = item.find_last_not_of(" \t");
        if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
        pos = end + 1;
    }
    return out;
}

void set_endpoint(std::string& host_out, std::uint16_t& port_out, const std::string& flag, const std::string& v) {
    auto colon = v.rfind(':');
    if (colon == std::string::npos || colon == 0) bad(flag, "expected ADDRESS:PORT, got '" + escaped(v) + "'");
    auto host = v.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    host_out = host;
    port_out = to_uint<std::uint16_t>(flag, v.substr(colon + 1), 0, 65535);
}

void set_text_line(std::string& field, const std::string& flag, const std::string& v) {
    if (v.empty() || !sse::is_single_line(v)) bad(flag, "must be non-empty and on one line");
    field = v;
}

void set_channel(std::string& field, const std::string& flag, const std::string& v) {
    if (v.empty() || v.size() > 63 || !sse::is_single_line(v)) bad(flag, "must be a channel name of 1 to 63 bytes");
    field = v;
}

void set_path(config& c, const std::string& flag, const std::string& v) {
    if (v.empty() || v.front() != '/' || v.find_first_of("?# \r\n") != std::string::npos)
        bad(flag, "must be an absolute path without query, e.g. /authy/live_status");
    if (v == "/healthz" || v == "/readyz" || v == "/metrics") bad(flag, "collides with a built-in route");
    c.stream_path = v;
}

void set_path_value(std::string& field, const std::string& flag, const std::string& v) {
    if (v.empty() || !sse::is_single_line(v)) bad(flag, "must be a path on one line");
    field = v;
}

// Only the scheme is checked here; the URL is parsed in full where it is fetched
// (auth_chain's start-up check), so both agree on one grammar.
void set_jwks_url(config& c, const std::string& flag, const std::string& v) {
    if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) bad(flag, "must start with http:// or https://");
    set_path_value(c.jwt_jwks_url, flag, v);
}

#define GW_SET(expr)                                            \
    [](config& c, const std::string& f, const std::string& v) { \
        (void)f;                                                \
        (void)v;                                                \
        expr;                                                   \
    }

const option options[] = {
    {"config", "FILE", "none",
     "a TOML file of options, each key a flag's long name (e.g. max-connections = 50000); env and flags override it",
     [](config&, const std::string&, const std::string&) {}},  // read before the rest: see parse_config
    {"listen", "ADDR:PORT", "0.0.0.0:8080", "address and port to serve on (port 0 picks a free one)",
     GW_SET(set_endpoint(c.listen_host, c.listen_port, f, v))},
    {"ops-listen", "ADDR:PORT", "none",
     "serve /healthz, /readyz and /metrics here only (the public listener answers 404 for them), e.g. "
     "127.0.0.1:9090; reachable even when --max-connections is reached",
     GW_SET(set_endpoint(c.ops_listen_host, c.ops_listen_port, f, v))},
    {"database-url", "CONNINFO", "$DATABASE_URL, else libpq env", "the LISTEN connection's conninfo or URI",
     GW_SET(c.database_url = v)},
    {"threads", "N", "cores",
     "event-loop threads: the first runs the LISTEN connection and every stream, the others take connections "
     "(parse, authenticate, probes)",
     GW_SET(c.threads = to_uint<unsigned>(f, v, 1, 64))},
    {"stream-path", "PATH", "/authy/live_status", "the stream route", GW_SET(set_path(c, f, v))},
    {"channel-template", "TEXT", "user_{user}", "channel name for a user id ({user} is replaced)",
     GW_SET(set_text_line(c.channel_template, f, v))},
    {"event", "NAME", "authy_status", "SSE event name", GW_SET(set_text_line(c.event_name, f, v))},
    {"wrap-field", "NAME", "status", "JSON field that wraps a plain-text payload",
     GW_SET(set_text_line(c.wrap_field, f, v))},
    {"user-pattern", "REGEX", "^[0-9]{1,20}$", "accepted user ids (ECMAScript regex)",
     GW_SET(set_text_line(c.user_pattern, f, v))},
    {"heartbeat", "SECONDS", "15", "heartbeat comment after this many seconds without an event",
     GW_SET(c.heartbeat = std::chrono::seconds(to_uint<unsigned>(f, v, 1, 3600)))},
    {"retry-ms", "MS", "2000", "reconnect delay hinted to browsers in the retry: line",
     GW_SET(c.retry = std::chrono::milliseconds(to_uint<unsigned>(f, v, 0, 3600000)))},
    {"channel-mode", "MODE", "per-user",
     "per-user: LISTEN on each user's channel; shared: LISTEN on --shared-channel only, user id in the payload",
     GW_SET(if (v != "per-user" && v != "shared") bad(f, "must be per-user or shared");
            c.channel_mode = v == "shared" ? channel_mode::shared : channel_mode::per_user)},
    {"shared-channel", "NAME", "sse_gateway_events", "the one channel apps NOTIFY in shared mode",
     GW_SET(set_channel(c.shared_channel, f, v))},
    {"shared-user-field", "NAME", "user", "JSON field of a shared-mode payload that names the user",
     GW_SET(set_text_line(c.shared_user_field, f, v))},
    {"broadcast-channel", "NAME", "none", "channel whose events reach every stream of the route",
     GW_SET(set_channel(c.broadcast_channel, f, v))},
    {"auth", "MODES", "proxy-header", "comma list of proxy-header, jwt, rails-session, tried in order",
     GW_SET(c.auth_modes = to_list(v))},
    {"proxy-header", "NAME", "X-User-Id", "header naming the user (proxy-header mode)",
     GW_SET(set_text_line(c.proxy_header, f, v))},
    {"proxy-secret-header", "NAME", "X-Gateway-Secret", "header carrying the shared secret",
     GW_SET(set_text_line(c.proxy_secret_header, f, v))},
    {"proxy-secret", "SECRET", "none",
     "shared secret the proxy sends, at least 32 bytes; required in proxy-header mode", GW_SET(c.proxy_secret = v)},
    {"proxy-secret-file", "FILE", "none",
     "file of proxy secrets, one per line ('#' starts a comment line), any of them accepted; re-read on SIGHUP",
     GW_SET(set_path_value(c.proxy_secret_file, f, v))},
    {"proxy-networks", "CIDRS", "any", "comma list of source networks trusted in proxy-header mode",
     GW_SET(c.proxy_networks = to_list(v))},
    {"allow-insecure-proxy-header", "", "off", "development only: trust the user header without a secret",
     GW_SET(c.allow_insecure_proxy_header = v.empty() || to_bool(f, v))},
    {"jwt-alg", "ALG", "HS256", "JWT algorithm: HS256, RS256 or ES256", GW_SET(c.jwt_alg = v)},
    {"jwt-secret", "SECRET", "none", "HS256 shared secret, at least 32 bytes", GW_SET(c.jwt_secret = v)},
    {"jwt-secret-file", "FILE", "none",
     "file of HS256 secrets, one per line ('#' starts a comment line), any of them accepted; "
     "re-read on SIGHUP",
     GW_SET(set_path_value(c.jwt_secret_file, f, v))},
    {"jwt-public-key", "FILE|DIR", "none",
     "PEM public keys (or certificates) for RS256/ES256: a file of one or more, or a directory of such files; "
     "re-read on SIGHUP",
     GW_SET(set_path_value(c.jwt_public_key, f, v))},
    {"jwt-jwks", "FILE", "none", "JWKS file (RFC 7517) of RS256/ES256 keys; a token's kid picks one; re-read on SIGHUP",
     GW_SET(set_path_value(c.jwt_jwks, f, v))},
    {"jwt-jwks-url", "URL", "none",
     "http:// or https:// JWKS URL, fetched in the background, refreshed on a schedule and for an unknown kid; "
     "http:// only to loopback unless --jwt-jwks-allow-http",
     GW_SET(set_jwks_url(c, f, v))},
    {"jwt-jwks-allow-http", "", "off",
     "let an http:// JWKS URL name a host that is not loopback (anyone on the path can inject keys: "
     "only for a trusted path, e.g. in-cluster)",
     GW_SET(c.jwt_jwks_allow_http = v.empty() || to_bool(f, v))},
    {"jwt-jwks-ca-file", "FILE", "the system's CAs", "PEM CA certificates that verify an https JWKS URL",
     GW_SET(set_path_value(c.jwt_jwks_ca_file, f, v))},
    {"jwt-jwks-refresh", "SECONDS", "300", "how often the JWKS URL is fetched again",
     GW_SET(c.jwt_jwks_refresh = std::chrono::seconds(to_uint<unsigned>(f, v, 1, 86400)))},
    {"jwt-jwks-min-refresh", "SECONDS", "15",
     "at most one JWKS fetch this often for unknown kids, and the retry delay after a failed fetch",
     GW_SET(c.jwt_jwks_min_refresh = std::chrono::seconds(to_uint<unsigned>(f, v, 1, 3600)))},
    {"jwt-audience", "AUD", "none", "required aud claim", GW_SET(c.jwt_audience = v)},
    {"jwt-issuer", "ISS", "none", "required iss claim", GW_SET(c.jwt_issuer = v)},
    {"jwt-cookie", "NAME", "none", "cookie that may carry the token", GW_SET(c.jwt_cookie = v)},
    {"jwt-claim", "NAME", "sub", "claim holding the user id", GW_SET(set_text_line(c.jwt_claim, f, v))},
    {"jwt-require-exp", "", "off", "refuse tokens without exp (they would never expire)",
     GW_SET(c.jwt_require_exp = v.empty() || to_bool(f, v))},
    {"jwt-leeway", "SECONDS", "30", "clock leeway for exp and nbf",
     GW_SET(c.jwt_leeway = std::chrono::seconds(to_uint<unsigned>(f, v, 0, 3600)))},
    {"rails-secret-key-base", "SECRET", "none", "the Rails app's secret_key_base, at least 30 bytes",
     GW_SET(c.rails_secret_key_base = v)},
    {"rails-secret-key-base-file", "FILE", "none",
     "file of secret_key_base values, one per line ('#' starts a comment line), a cookie made with any of "
     "them accepted; re-read on SIGHUP",
     GW_SET(set_path_value(c.rails_secret_key_base_file, f, v))},
    {"rails-cookie", "NAME", "none", "the Rails session cookie name", GW_SET(c.rails_cookie = v)},
    {"rails-session-key", "KEY", "pre_2fa_auth_user_id", "session key holding the user id",
     GW_SET(set_text_line(c.rails_session_key, f, v))},
    {"rails-fallback-key", "KEY", "none", "session key tried when the first is absent",
     GW_SET(c.rails_fallback_key = v)},
    {"rails-key-digest", "DIGEST", "sha1 then sha256", "key-generator digest: sha1 or sha256",
     GW_SET(if (v != "sha1" && v != "sha256") bad(f, "must be sha1 or sha256"); c.rails_key_digest = v)},
    {"credentials-watch-seconds", "SECONDS", "0",
     "look at the credential files this often and reload when their contents changed, as a mounted "
     "Kubernetes Secret does (0: reload only on SIGHUP)",
     GW_SET(c.credentials_watch = std::chrono::seconds(to_uint<unsigned>(f, v, 0, 86400)))},
    {"cors-origins", "ORIGINS", "none", "comma list of allowed CORS origins", GW_SET(c.cors_origins = to_list(v))},
    {"snapshot-sql", "SQL", "none", "query for a user's current state ($1 = user id), sent first on every stream",
     GW_SET(c.snapshot_sql = v)},
    {"snapshot-pool", "N", "2", "query connections for snapshots",
     GW_SET(c.snapshot_pool = to_uint<unsigned>(f, v, 1, 64))},
    {"snapshot-timeout-ms", "MS", "5000", "a snapshot query slower than this is abandoned",
     GW_SET(c.snapshot_timeout = std::chrono::milliseconds(to_uint<unsigned>(f, v, 10, 600000)))},
    {"replay-size", "N", "64", "events kept per channel for Last-Event-ID (0 = none)",
     GW_SET(c.replay_size = to_uint<std::size_t>(f, v, 0, 100000))},
    {"replay-age", "SECONDS", "300", "how long events are kept for Last-Event-ID",
     GW_SET(c.replay_age = std::chrono::seconds(to_uint<unsigned>(f, v, 1, 86400)))},
    {"max-connections", "N", "from the open-file limit",
     "open connections beyond which new ones get 503; by default the open-file limit less what the gateway "
     "keeps for itself (database, listener, spare), at most 100000",
     GW_SET(c.max_connections = to_uint<std::uint64_t>(f, v, 1, 10000000))},
    {"max-streams-per-user", "N", "16", "open streams per user beyond which new ones get 429",
     GW_SET(c.max_streams_per_user = to_uint<std::uint32_t>(f, v, 1, 100000))},
    {"max-queue-bytes", "BYTES", "262144", "unsent bytes a stream may hold before it is closed as slow",
     GW_SET(c.max_queue_bytes = to_uint<std::uint64_t>(f, v, 1024, 1ull << 32))},
    {"header-timeout", "SECONDS", "10", "time allowed to send request headers",
     GW_SET(c.header_timeout = std::chrono::seconds(to_uint<unsigned>(f, v, 1, 3600)))},
    {"listen-timeout", "SECONDS", "10", "time a new stream waits for its LISTEN before 503",
     GW_SET(c.listen_timeout = std::chrono::seconds(to_uint<unsigned>(f, v, 1, 3600)))},
    {"db-ping-seconds", "SECONDS", "15",
     "ping an idle LISTEN connection this often; no answer within as long means it is dead",
     GW_SET(c.db_ping = std::chrono::seconds(to_uint<unsigned>(f, v, 1, 3600)))},
    {"queue-usage-seconds", "SECONDS", "15",
     "read the database's pg_notification_queue_usage() this often on a query connection (0 = never)",
     GW_SET(c.queue_usage_interval = std::chrono::seconds(to_uint<unsigned>(f, v, 0, 3600)))},
    {"drain-seconds", "SECONDS", "10", "spread of stream closes on SIGTERM",
     GW_SET(c.drain = std::chrono::seconds(to_uint<unsigned>(f, v, 0, 3600)))},
    {"log-level", "LEVEL", "info", "debug, info, warn or error", GW_SET(c.level = log::parse_level(v))},
};

#undef GW_SET

std::string env_name(std::string_view flag) {
    std::string out = "SSE_GATEWAY_";
    for (char ch : flag) out += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return out;
}

const option* find_option(std::string_view flag) {
    for (const auto& o : options)
        if (o.flag == flag) return &o;
    return nullptr;
}

// --config's value, and where it came from ("--config" or its env twin): the
// last on the command line, else the environment.
std::optional<std::pair<std::string, std::string>> config_path(int argc, const char* const* argv,
                                                               const env_lookup& env) {
    std::optional<std::pair<std::string, std::string>> path;
    if (auto v = env(env_name("config"))) path.emplace(env_name("config"), *v);
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--config" && i + 1 < argc)
            path.emplace("--config", argv[++i]);
        else if (arg.rfind("--config=", 0) == 0)
            path.emplace("--config", std::string(arg.substr(9)));
    }
    return path;
}

// The file's values, lowest of the three sources: an error names the file and line.
// Returns the file's [[route]] tables, read once the global options are final.
std::vector<route_table> apply_file(config& c, const std::string& path) {
    auto file = read_config_file(path);
    for (const auto& [key, value, line] : file.values) {
        const auto at = path + ":" + std::to_string(line) + ": ";
        const option* o = find_option(key);
        if (!o || key == "config") throw config_error(at + "unknown key '" + escaped(key) + "' (see --help)");
        try {
            o->apply(c, key, value);
        } catch (const config_error& e) {
            throw config_error(at + key + ": " + std::string(e.what()).substr(key.size() + 4));
        }
    }
    return std::move(file.routes);
}

// The options a [[route]] table may set besides path, key, payload and channel-prefix:
// the per-stream ones, applied through the option table onto a copy of the globals.
constexpr std::string_view per_route_options[] = {
    "auth",         "channel-template",  "event",       "wrap-field", "user-pattern",
    "snapshot-sql", "broadcast-channel", "replay-size", "replay-age", "max-streams-per-user",
    "cors-origins", "heartbeat",         "retry-ms",
};

bool is_per_route(std::string_view key) {
    return std::find(std::begin(per_route_options), std::end(per_route_options), key) != std::end(per_route_options);
}

// One [[route]] table over the final globals. Errors name the file, the line and the key.
route_config table_route(const config& global, const std::string& path, const route_table& table) {
    config scratch = global;
    route_key key = route_key::user;
    std::optional<payload_mode> payload;
    std::optional<std::string> prefix;
    bool has_path = false, has_event = false, has_auth = false;
    std::uint32_t template_line = 0, prefix_line = 0;
    const auto at = [&path](std::uint32_t line) { return path + ":" + std::to_string(line) + ": route: "; };
    for (const auto& [name, value, line] : table.values) {
        try {
            if (name == "path") {
                set_path(scratch, name, value);
                has_path = true;
            } else if (name == "key") {
                if (value != "user" && value != "turbo-signed-stream") bad(name, "must be user or turbo-signed-stream");
                key = value == "user" ? route_key::user : route_key::turbo_signed_stream;
            } else if (name == "payload") {
                if (value == "status")
                    payload = payload_mode::status;
                else if (value == "raw")
                    payload = payload_mode::raw;
                else if (value == "action-cable")
                    payload = payload_mode::action_cable;
                else
                    bad(name, "must be status, raw or action-cable");
            } else if (name == "channel-prefix") {
                if (!sse::is_single_line(value)) bad(name, "must be on one line");
                prefix = value;
                prefix_line = line;
            } else if (name == "event" && value.empty()) {
                scratch.event_name.clear();  // unnamed events: the browser's "message"
                has_event = true;
            } else if (is_per_route(name)) {
                find_option(name)->apply(scratch, name, value);
                has_event = has_event || name == "event";
                has_auth = has_auth || name == "auth";
                if (name == "channel-template") template_line = line;
            } else {
                throw config_error(at(line) + "unknown key '" + escaped(name) + "' (see proto_docs/routes.md)");
            }
        } catch (const config_error& e) {
            const std::string what = e.what();
            if (what.rfind("--", 0) != 0) throw;
            throw config_error(at(line) + name + ": " + what.substr(name.size() + 4));
        }
    }
    if (!has_path) throw config_error(at(table.line) + "path is required");
    route_config r = route_from_flags(scratch);
    r.key = key;
    r.channel_prefix = std::move(prefix);
    if (key == route_key::turbo_signed_stream) {
        if (template_line)
            throw config_error(at(template_line) +
                               "channel-template does not apply to a turbo-signed-stream route (its channel is the "
                               "signed stream name)");
        if (global.rails_secret_key_base.empty() && global.rails_secret_key_base_file.empty())
            throw config_error(at(table.line) + r.path +
                               ": a turbo-signed-stream route needs rails-secret-key-base or "
                               "rails-secret-key-base-file");
        r.channel_template.clear();
        r.payload = payload.value_or(payload_mode::action_cable);
        if (!has_event) r.event_name.clear();
        if (!has_auth) r.auth_modes.clear();
    } else {
        if (prefix_line)
            throw config_error(at(prefix_line) + "channel-prefix applies to turbo-signed-stream routes only");
        if (r.auth_modes.empty()) throw config_error(at(table.line) + r.path + ": a user route needs an auth mode");
        r.payload = payload.value_or(payload_mode::status);
    }
    return r;
}

std::vector<route_config> file_routes(const config& global, const std::string& path,
                                      const std::vector<route_table>& tables) {
    std::vector<route_config> routes;
    for (const auto& table : tables) {
        auto r = table_route(global, path, table);
        for (const auto& other : routes)
            if (other.path == r.path)
                throw config_error(path + ":" + std::to_string(table.line) + ": route: path " + r.path +
                                   " is already a route");
        routes.push_back(std::move(r));
    }
    return routes;
}

}  // namespace

route_config route_from_flags(const config& c) {
    route_config r;
    r.path = c.stream_path;
    r.auth_modes = c.auth_modes;
    r.channel_template = c.channel_template;
    r.event_name = c.event_name;
    r.wrap_field = c.wrap_field;
    r.user_pattern = c.user_pattern;
    r.snapshot_sql = c.snapshot_sql;
    r.broadcast_channel = c.broadcast_channel;
    r.replay_size = c.replay_size;
    r.replay_age = c.replay_age;
    r.max_streams_per_user = c.max_streams_per_user;
    r.cors_origins = c.cors_origins;
    r.heartbeat = c.heartbeat;
    r.retry = c.retry;
    return r;
}

parse_outcome parse_config(int argc, const char* const* argv, const env_lookup& env) {
    bool auth_from_flag = false;  // --auth was given on the command line
    parse_outcome out;
    // Precedence, lowest first: defaults, the --config file, env, flags.
    // Every error about the file starts with where its name came from, as the
    // flags' and env twins' own errors do.
    const auto named = config_path(argc, argv, env);
    std::optional<std::string> path;
    std::vector<route_table> route_tables;
    if (named && !named->second.empty()) {
        const auto& [source, file] = *named;
        // Messages name the file: a path with a line break would split them (found by fuzz_config).
        if (escaped(file) != file)
            throw config_error(source + ": " + escaped(file) + ": a path with control characters is refused");
        path = file;
        try {
            route_tables = apply_file(out.cfg, file);
        } catch (const config_error& e) {
            throw config_error(source + ": " + e.what());
        }
    }
    // The database URL has two extra fallbacks below its own twin: libpq env (empty), DATABASE_URL.
    if (auto v = env("DATABASE_URL")) out.cfg.database_url = *v;
    for (const auto& o : options) {
        if (auto v = env(env_name(o.flag))) {
            try {
                o.apply(out.cfg, std::string(o.flag), *v);
            } catch (const config_error& e) {
                throw config_error(env_name(o.flag) + ": " + std::string(e.what()).substr(o.flag.size() + 4));
            }
        }
    }
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            out.help = true;
            return out;
        }
        if (arg.rfind("--", 0) != 0) throw config_error("unexpected argument '" + escaped(arg) + "'");
        std::string name = arg.substr(2);
        std::optional<std::string> value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        const option* o = find_option(name);
        if (!o) throw config_error("unknown option --" + escaped(name) + " (see --help)");
        if (!value) {
            if (o->value_name.empty())
                value = "";
            else if (i + 1 < argc)
                value = argv[++i];
            else
                throw config_error("--" + name + " needs a value");
        }
        o->apply(out.cfg, name, *value);
        if (name == "auth") auth_from_flag = true;
    }
    if (out.cfg.threads == 0) out.cfg.threads = std::max(1u, std::thread::hardware_concurrency());
    if (route_tables.empty()) {
        // Named by where the list came from, as every other error is.
        if (out.cfg.auth_modes.empty())
            throw config_error((!auth_from_flag && env("SSE_GATEWAY_AUTH") ? "SSE_GATEWAY_AUTH" : "--auth") +
                               std::string(": names no mode"));
        out.cfg.routes = {route_from_flags(out.cfg)};
    } else {
        try {
            out.cfg.routes = file_routes(out.cfg, *path, route_tables);
        } catch (const config_error& e) {
            throw config_error(named->first + ": " + e.what());
        }
    }
    out.route_tables = !route_tables.empty();
    return out;
}

connection_budget connection_budget_for(const config& c, std::uint64_t open_file_limit) {
    // Asio gives each io_context (the loops', the main thread's and the credentials
    // thread's, see auth_chain) an epoll fd, an eventfd and a timerfd; signal_set
    // adds one pipe for the process.
    constexpr std::uint64_t stdio = 3, acceptor = 1, per_loop = 3, signal_pipe = 2, spare = 32;
    std::uint64_t database = 1;  // the LISTEN connection
    if (!c.snapshot_sql.empty())
        database += c.snapshot_pool;
    else if (c.queue_usage_interval.count() > 0)
        database += 1;  // the queue-usage probe's own query connection
    const std::uint64_t loops = std::max(1u, c.threads) + 2u;
    const std::uint64_t acceptors = c.ops_listen_host.empty() ? acceptor : 2 * acceptor;
    connection_budget b;
    b.open_file_limit = open_file_limit;
    b.reserved = stdio + acceptors + per_loop * loops + signal_pipe + database + ops_connection_reserve + spare;
    b.allowed = open_file_limit > b.reserved ? open_file_limit - b.reserved : 0;
    return b;
}

std::uint64_t connection_budget::default_max_connections() const {
    return std::clamp<std::uint64_t>(allowed, 1, max_connections_ceiling);
}

std::string usage_text() {
    std::string out =
        "Usage: sse-gateway [OPTIONS]\n"
        "Server-Sent Events gateway: holds browser streams keyed by user id and fans\n"
        "PostgreSQL NOTIFY messages out to them over one LISTEN connection.\n\n"
        "Every option can also be set by its environment twin, shown in brackets.\n\n";
    for (const auto& o : options) {
        std::string head = "  --" + std::string(o.flag);
        if (!o.value_name.empty()) head += " " + std::string(o.value_name);
        out += head + "\n      " + std::string(o.help) + " (default: " + std::string(o.default_text) + ") [" +
               env_name(o.flag) + "]\n";
    }
    out += "  --help\n      print this text and exit\n";
    return out;
}

std::vector<std::string> unknown_env_names(const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (const auto& n : names) {
        if (n.rfind("SSE_GATEWAY_", 0) != 0) continue;
        bool known = false;
        for (const auto& o : options) known = known || env_name(o.flag) == n;
        if (!known) out.push_back(n);
    }
    return out;
}

env_lookup process_env() {
    return [](const std::string& name) -> std::optional<std::string> {
        if (const char* v = std::getenv(name.c_str())) return std::string(v);
        return std::nullopt;
    };
}

}  // namespace gw
