#pragma once
// Gateway configuration: every option is a flag with an SSE_GATEWAY_* env twin
// (flags win). parse_config() is pure: it reads argv and an env lookup function and
// throws config_error with a one-line message for any bad or unknown value.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gw {

struct config_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class log_level { debug, info, warn, error };

// How a NOTIFY finds its user: a channel per user, or one shared channel whose
// JSON payload names the user (--channel-mode per-user | shared).
enum class channel_mode { per_user, shared };

// Where a route's channel comes from: the authenticated user (through the channel
// template), or turbo-rails' signed stream name in the query.
enum class route_key { user, turbo_signed_stream };

// What a payload becomes as SSE data: the status rule (payload_rule.hpp), the text
// as it is, or Action Cable's JSON decoded (action_cable_payload.hpp).
enum class payload_mode { status, raw, action_cable };

// One stream route. Without [[route]] tables in --config, the flags make the one
// route (key user, payload status); a table's keys override the global options,
// and whatever it leaves out is the global value. See proto_docs/routes.md.
struct route_config {
    std::string path;
    route_key key = route_key::user;
    payload_mode payload = payload_mode::status;
    std::optional<std::string> channel_prefix;  // turbo routes: cable.yml's channel_prefix, joined with ':'
    std::vector<std::string> auth_modes;        // empty on a turbo route: the signature is the authorization
    std::string channel_template;               // user routes
    std::string event_name;                     // empty: unnamed events (the browser's "message")
    std::string wrap_field;
    std::string user_pattern;
    std::string snapshot_sql;
    std::string broadcast_channel;
    std::size_t replay_size = 0;
    std::chrono::seconds replay_age{0};
    std::uint32_t max_streams_per_user = 0;
    std::vector<std::string> cors_origins;
    std::chrono::seconds heartbeat{0};
    std::chrono::milliseconds retry{0};
};

// --user-pattern's default: decimal ids, as Rails primary keys are.
inline constexpr const char* default_user_pattern = "^[0-9]{1,20}$";

struct config {
    // network
    std::string listen_host = "0.0.0.0";
    std::uint16_t listen_port = 8080;
    // --ops-listen: /healthz, /readyz and /metrics on their own listener (and 404
    // on the public one); empty host: off, served with everything else.
    std::string ops_listen_host;
    std::uint16_t ops_listen_port = 0;
    unsigned threads = 0;  // 0 = hardware concurrency

    // database: the LISTEN connection's conninfo; empty means libpq's own env
    std::string database_url;

    // the stream route
    std::string stream_path = "/authy/live_status";
    std::string channel_template = "user_{user}";
    std::string event_name = "authy_status";
    std::string wrap_field = "status";
    std::string user_pattern{default_user_pattern};
    std::chrono::seconds heartbeat{15};
    std::chrono::milliseconds retry{2000};
    // channel modes
    gw::channel_mode channel_mode = gw::channel_mode::per_user;
    std::string shared_channel = "sse_gateway_events";
    std::string shared_user_field = "user";
    std::string broadcast_channel;  // empty: none

    // identity
    std::vector<std::string> auth_modes{"proxy-header"};
    std::string proxy_header = "X-User-Id";
    std::string proxy_secret_header = "X-Gateway-Secret";
    std::string proxy_secret;
    std::string proxy_secret_file;  // one secret per line, all accepted; re-read on SIGHUP
    bool allow_insecure_proxy_header = false;
    std::vector<std::string> proxy_networks;  // CIDR list; empty = any source

    std::string jwt_alg = "HS256";
    std::string jwt_secret;
    std::string jwt_secret_file;       // HS256 secrets, one per line
    std::string jwt_public_key;        // a PEM file (one or more keys) or a directory of them
    std::string jwt_jwks;              // a JWKS file (RFC 7517)
    std::string jwt_jwks_url;          // http:// or https:// URL of a JWKS
    std::string jwt_jwks_ca_file;      // PEM CA bundle for an https JWKS URL; empty: the system's
    bool jwt_jwks_allow_http = false;  // an http:// JWKS URL may name a host that is not loopback
    std::chrono::seconds jwt_jwks_refresh{300};
    std::chrono::seconds jwt_jwks_min_refresh{15};  // rate limit: unknown kids and retries
    std::string jwt_audience;
    std::string jwt_issuer;
    std::string jwt_cookie;
    std::string jwt_claim = "sub";
    std::chrono::seconds jwt_leeway{30};
    bool jwt_require_exp = false;

    std::string rails_secret_key_base;
    std::string rails_secret_key_base_file;  // one secret_key_base per line
    // Re-read the credential files this often when their contents changed (0: only on SIGHUP).
    std::chrono::seconds credentials_watch{0};
    std::string rails_cookie;
    std::string rails_session_key = "pre_2fa_auth_user_id";
    std::string rails_fallback_key;
    std::string rails_key_digest;  // "", "sha1" or "sha256": empty tries both

    std::vector<std::string> cors_origins;

    // delivery
    std::string snapshot_sql;  // $1 = user id; empty = no snapshots
    unsigned snapshot_pool = 2;
    std::chrono::milliseconds snapshot_timeout{5000};
    std::size_t replay_size = 64;
    std::chrono::seconds replay_age{300};

    // limits
    std::uint64_t max_connections = 0;  // 0 until main() derives it: see connection_budget
    std::uint32_t max_streams_per_user = 16;
    std::uint64_t max_queue_bytes = 262144;
    std::chrono::seconds header_timeout{10};
    std::chrono::seconds listen_timeout{10};
    std::chrono::seconds drain{10};
    std::chrono::seconds db_ping{15};
    std::chrono::seconds queue_usage_interval{15};  // 0: pg_notification_queue_usage() is not read

    log_level level = log_level::info;

    // The stream routes: the [[route]] tables of --config, else the one route the
    // flags above describe. parse_config() always fills it.
    std::vector<route_config> routes;
};

// Connections beyond --max-connections that still get /healthz, /readyz and
// /metrics answered, so a full gateway can be probed and scraped; with
// --ops-listen, the most connections the ops listener holds at once.
inline constexpr std::uint64_t ops_connection_reserve = 16;
// The derived --max-connections never exceeds this: above it, memory (about
// 1.5 KiB per idle stream plus kernel socket buffers) is the limit to think
// about, and an explicit value says so.
inline constexpr std::uint64_t max_connections_ceiling = 100000;

// What an open-file limit leaves for client connections. The rest is reserved:
// stdio, the listening socket, each event loop's epoll, eventfd and timerfd, the
// signal pipe, the database connections (LISTEN, snapshot pool or the queue
// probe), the ops reserve, and spare for what opens a file for a moment
// (libpq's reconnect and DNS lookup, a secret file re-read on SIGHUP, the socket
// a 503 is written on) -- so a refusal is answered before accept() meets EMFILE.
struct connection_budget {
    std::uint64_t open_file_limit = 0;
    std::uint64_t reserved = 0;  // file descriptors kept for everything but client connections
    std::uint64_t allowed = 0;   // open_file_limit - reserved, 0 when the limit is below the reserve

    // --max-connections when none is given: `allowed`, at least 1, at most the ceiling.
    std::uint64_t default_max_connections() const;
};

connection_budget connection_budget_for(const config& c, std::uint64_t open_file_limit);

// The route the flags describe: the per-stream options as they are (key user,
// payload status). What a [[route]] table leaves out comes from here too.
route_config route_from_flags(const config& c);

using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

// What parse_config() found: a config, or a request for --help.
struct parse_outcome {
    config cfg;
    bool help = false;
    bool route_tables = false;  // cfg.routes came from [[route]] tables of --config
};

parse_outcome parse_config(int argc, const char* const* argv, const env_lookup& env);

// The --help text, generated from the same option table the parser uses.
std::string usage_text();

// The SSE_GATEWAY_* names in `names` that are no option's env twin (typos, or
// variables meant for the scripts around the gateway).
std::vector<std::string> unknown_env_names(const std::vector<std::string>& names);

// The process environment as an env_lookup.
env_lookup process_env();

}  // namespace gw
