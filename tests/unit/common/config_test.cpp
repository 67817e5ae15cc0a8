#include "config.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <vector>

namespace {

struct args {
    std::vector<std::string> v;
    std::map<std::string, std::string> env{};

    gw::parse_outcome parse() const {
        std::vector<const char*> argv{"sse-gateway"};
        for (const auto& a : v) argv.push_back(a.c_str());
        return gw::parse_config(static_cast<int>(argv.size()), argv.data(),
                                [this](const std::string& k) -> std::optional<std::string> {
                                    auto it = env.find(k);
                                    if (it == env.end()) return std::nullopt;
                                    return it->second;
                                });
    }
};

}  // namespace

TEST_CASE("defaults match the documented ones", "[config]") {
    auto c = args{}.parse().cfg;
    CHECK(c.listen_host == "0.0.0.0");
    CHECK(c.listen_port == 8080);
    CHECK(c.stream_path == "/authy/live_status");
    CHECK(c.channel_template == "user_{user}");
    CHECK(c.event_name == "authy_status");
    CHECK(c.wrap_field == "status");
    CHECK(c.user_pattern == "^[0-9]{1,20}$");
    CHECK(c.heartbeat == std::chrono::seconds(15));
    CHECK(c.auth_modes == std::vector<std::string>{"proxy-header"});
    CHECK(c.max_connections == 0);  // derived from the open-file limit at start
    CHECK(c.queue_usage_interval == std::chrono::seconds(15));
    CHECK(c.max_streams_per_user == 16);
    CHECK(c.max_queue_bytes == 262144);
    CHECK(c.header_timeout == std::chrono::seconds(10));
    CHECK(c.drain == std::chrono::seconds(10));
    CHECK(c.threads >= 1);
    CHECK(c.ops_listen_host.empty());  // no ops listener: everything on --listen
}

TEST_CASE("the ops listener comes from --ops-listen or its env twin", "[config]") {
    auto c = args{{"--ops-listen", "127.0.0.1:9090"}}.parse().cfg;
    CHECK(c.ops_listen_host == "127.0.0.1");
    CHECK(c.ops_listen_port == 9090);
    c = args{{}, {{"SSE_GATEWAY_OPS_LISTEN", "[::1]:0"}}}.parse().cfg;
    CHECK(c.ops_listen_host == "::1");
    CHECK(c.ops_listen_port == 0);
    const args bad{{"--ops-listen", "9090"}};
    CHECK_THROWS_AS(bad.parse(), gw::config_error);
    // Its acceptor is one more descriptor.
    CHECK(gw::connection_budget_for(args{{"--ops-listen", "127.0.0.1:9090"}}.parse().cfg, 20000).reserved ==
          gw::connection_budget_for(args{}.parse().cfg, 20000).reserved + 1);
}

TEST_CASE("flags take both --name value and --name=value forms", "[config]") {
    auto c = args{{"--listen", "127.0.0.1:0", "--heartbeat=3", "--event", "ev", "--allow-insecure-proxy-header"}}
                 .parse()
                 .cfg;
    CHECK(c.listen_host == "127.0.0.1");
    CHECK(c.listen_port == 0);
    CHECK(c.heartbeat == std::chrono::seconds(3));
    CHECK(c.event_name == "ev");
    CHECK(c.allow_insecure_proxy_header);
}

TEST_CASE("every flag has an SSE_GATEWAY_ env twin and the flag wins", "[config]") {
    args a{{}, {{"SSE_GATEWAY_HEARTBEAT", "7"}, {"SSE_GATEWAY_MAX_CONNECTIONS", "9"}}};
    auto c = a.parse().cfg;
    CHECK(c.heartbeat == std::chrono::seconds(7));
    CHECK(c.max_connections == 9);
    a.v = {"--heartbeat", "2"};
    CHECK(a.parse().cfg.heartbeat == std::chrono::seconds(2));
}

TEST_CASE("the database URL comes from the flag, its twin, then DATABASE_URL", "[config]") {
    args a{{}, {{"DATABASE_URL", "postgresql://a"}}};
    CHECK(a.parse().cfg.database_url == "postgresql://a");
    a.env["SSE_GATEWAY_DATABASE_URL"] = "postgresql://b";
    CHECK(a.parse().cfg.database_url == "postgresql://b");
    a.v = {"--database-url", "postgresql://c"};
    CHECK(a.parse().cfg.database_url == "postgresql://c");
    CHECK(args{}.parse().cfg.database_url.empty());
}

TEST_CASE("the default connection limit is the open-file limit less the gateway's own descriptors", "[config]") {
    auto c = args{{"--threads", "2"}}.parse().cfg;
    auto b = gw::connection_budget_for(c, 20000);
    // stdio 3, acceptor 1, 4 loops (2 event loops, main, credentials) x 3, signal pipe 2,
    // LISTEN + queue probe 2, ops reserve, spare 32
    CHECK(b.reserved == 3 + 1 + 12 + 2 + 2 + gw::ops_connection_reserve + 32);
    CHECK(b.allowed == 20000 - b.reserved);
    CHECK(b.default_max_connections() == b.allowed);
    CHECK(b.reserved < 100);

    // Each snapshot connection and each loop costs descriptors; no probe, no probe connection.
    auto more = args{{"--threads", "4", "--snapshot-sql", "SELECT 1", "--snapshot-pool", "5"}}.parse().cfg;
    CHECK(gw::connection_budget_for(more, 20000).reserved == b.reserved + 2 * 3 + 5 - 1);
    auto no_probe = args{{"--threads", "2", "--queue-usage-seconds", "0"}}.parse().cfg;
    CHECK(gw::connection_budget_for(no_probe, 20000).reserved == b.reserved - 1);
}

TEST_CASE("the derived connection limit stays between 1 and the ceiling", "[config]") {
    auto c = args{{"--threads", "1"}}.parse().cfg;
    CHECK(gw::connection_budget_for(c, 1048576).default_max_connections() == gw::max_connections_ceiling);
    auto tiny = gw::connection_budget_for(c, 10);
    CHECK(tiny.allowed == 0);
    CHECK(tiny.default_max_connections() == 1);
    CHECK(gw::connection_budget_for(c, 0).allowed == 0);
}

TEST_CASE("lists are split on commas and trimmed", "[config]") {
    auto c = args{{"--auth", "jwt, proxy-header ,", "--cors-origins", "https://a.example"}}.parse().cfg;
    CHECK(c.auth_modes == std::vector<std::string>{"jwt", "proxy-header"});
    CHECK(c.cors_origins == std::vector<std::string>{"https://a.example"});
}

TEST_CASE("bad values are one-line config errors naming the option", "[config]") {
    const std::vector<std::vector<std::string>> bad = {
        {"--heartbeat", "abc"},   {"--heartbeat", "0"},         {"--heartbeat", "-1"},
        {"--listen", "nonsense"}, {"--listen", "1.2.3.4:99999"}, {"--bogus"},
        {"--threads", "65"},      {"--stream-path", "nope"},     {"--stream-path", "/healthz"},
        {"--event", ""},          {"--log-level", "loud"},       {"--max-connections", "1e3"},
        {"positional"},           {"--heartbeat"},
    };
    for (const auto& v : bad) {
        INFO(v[0]);
        try {
            args{v}.parse();
            FAIL("accepted");
        } catch (const gw::config_error& e) {
            std::string msg = e.what();
            CHECK(msg.find('\n') == std::string::npos);
            CHECK(msg.find(v[0].substr(0, v[0].find('='))) != std::string::npos);
        }
    }
}

TEST_CASE("a bad env value names the env variable", "[config]") {
    try {
        args{{}, {{"SSE_GATEWAY_HEARTBEAT", "soon"}}}.parse();
        FAIL("accepted");
    } catch (const gw::config_error& e) {
        CHECK(std::string(e.what()).find("SSE_GATEWAY_HEARTBEAT") != std::string::npos);
    }
}

TEST_CASE("--help is reported and the usage lists every option with its env twin", "[config]") {
    CHECK(args{{"--help"}, {}}.parse().help);
    auto text = gw::usage_text();
    for (auto flag : {"--listen", "--database-url", "--stream-path", "--max-streams-per-user", "--drain-seconds"})
        CHECK(text.find(flag) != std::string::npos);
    CHECK(text.find("SSE_GATEWAY_MAX_STREAMS_PER_USER") != std::string::npos);
}

TEST_CASE("SSE_GATEWAY_ variables that are no option's twin are reported", "[config]") {
    auto unknown = gw::unknown_env_names({"SSE_GATEWAY_HEARTBEAT", "SSE_GATEWAY_HEARTBEATS", "PATH", "SSE_GATEWAY_LISTEN",
                                          "SSE_GATEWAY_DEMO_PORT"});
    CHECK(unknown == std::vector<std::string>{"SSE_GATEWAY_HEARTBEATS", "SSE_GATEWAY_DEMO_PORT"});
}

TEST_CASE("a bad env value gives the flag's own reason after the variable's name", "[config]") {
    // Found by tests/fuzz (fuzz.config): the log level's message lacked the "--flag: "
    // prefix the env path strips, so it read "SSE_GATEWAY_LOG_LEVEL: ust be one of ...".
    for (const auto& [name, value] : std::map<std::string, std::string>{
             {"SSE_GATEWAY_LOG_LEVEL", "loud"}, {"SSE_GATEWAY_HEARTBEAT", "soon"}, {"SSE_GATEWAY_CHANNEL_MODE", "x"}}) {
        INFO(name);
        std::string flag_reason, env_reason;
        std::string flag = "--" + name.substr(12);
        for (auto& ch : flag) ch = ch == '_' ? '-' : ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
        try {
            args{{flag + "=" + value}}.parse();
        } catch (const gw::config_error& e) {
            flag_reason = e.what();
        }
        try {
            args{{}, {{name, value}}}.parse();
        } catch (const gw::config_error& e) {
            env_reason = e.what();
        }
        REQUIRE(flag_reason.rfind(flag + ": ", 0) == 0);
        CHECK(env_reason == name + ": " + flag_reason.substr(flag.size() + 2));
    }
}

TEST_CASE("a value with a line break is shown escaped, so the error stays on one line", "[config]") {
    // Found by tests/fuzz (fuzz.config): an env value read from a file ends in a newline.
    for (const auto& [v, env] : std::vector<std::pair<std::vector<std::string>, std::map<std::string, std::string>>>{
             {{"--heartbeat", "15\n"}, {}},
             {{"--listen=a\r\nb"}, {}},
             {{"--bogus\n=1"}, {}},
             {{"posi\ntional"}, {}},
             {{}, {{"SSE_GATEWAY_ALLOW_INSECURE_PROXY_HEADER", "yes\x01\n"}}},
         }) {
        try {
            args{v, env}.parse();
            FAIL("accepted");
        } catch (const gw::config_error& e) {
            const std::string msg = e.what();
            INFO(msg);
            CHECK(msg.find_first_of("\r\n") == std::string::npos);
            CHECK((msg.find("\\n") != std::string::npos || msg.find("\\r") != std::string::npos));
        }
    }
}

TEST_CASE("credential files have _FILE env twins; the JWKS URL must be http or https", "[config]") {
    args a{{}, {{"SSE_GATEWAY_PROXY_SECRET_FILE", "/run/secrets/proxy"},
                {"SSE_GATEWAY_JWT_SECRET_FILE", "/run/secrets/jwt"},
                {"SSE_GATEWAY_RAILS_SECRET_KEY_BASE_FILE", "/run/secrets/skb"},
                {"SSE_GATEWAY_JWT_JWKS", "/run/jwks.json"},
                {"SSE_GATEWAY_JWT_JWKS_URL", "https://id.example/.well-known/jwks.json"},
                {"SSE_GATEWAY_JWT_JWKS_CA_FILE", "/etc/ca.pem"},
                {"SSE_GATEWAY_JWT_JWKS_REFRESH", "60"},
                {"SSE_GATEWAY_JWT_JWKS_MIN_REFRESH", "5"}}};
    auto c = a.parse().cfg;
    CHECK(c.proxy_secret_file == "/run/secrets/proxy");
    CHECK(c.jwt_secret_file == "/run/secrets/jwt");
    CHECK(c.rails_secret_key_base_file == "/run/secrets/skb");
    CHECK(c.jwt_jwks == "/run/jwks.json");
    CHECK(c.jwt_jwks_url == "https://id.example/.well-known/jwks.json");
    CHECK(c.jwt_jwks_ca_file == "/etc/ca.pem");
    CHECK(c.jwt_jwks_refresh == std::chrono::seconds(60));
    CHECK(c.jwt_jwks_min_refresh == std::chrono::seconds(5));
    CHECK(gw::unknown_env_names({"SSE_GATEWAY_JWT_SECRET_FILE", "SSE_GATEWAY_JWT_JWKS_URL"}).empty());

    auto defaults = args{}.parse().cfg;
    CHECK(defaults.jwt_jwks_refresh == std::chrono::seconds(300));
    CHECK(defaults.jwt_jwks_min_refresh == std::chrono::seconds(15));
    CHECK_THROWS_AS((args{{"--jwt-jwks-url", "ftp://id.example/jwks"}}.parse()), gw::config_error);
    CHECK_THROWS_AS((args{{"--jwt-secret-file", ""}}.parse()), gw::config_error);
    CHECK_THROWS_AS((args{{"--jwt-jwks-refresh", "0"}}.parse()), gw::config_error);
}
