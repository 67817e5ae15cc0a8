// The --config file: TOML keys named after the flags, below env and flags.
#include "config.hpp"
#include "config_file.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

// A TOML file in the temp dir, removed with the object.
struct toml_file {
    std::string path;
    explicit toml_file(const std::string& text) {
        char name[] = "/tmp/sse-gateway-config-XXXXXX";
        const int fd = ::mkstemp(name);
        REQUIRE(fd >= 0);
        ::close(fd);
        path = name;
        std::ofstream(path) << text;
    }
    ~toml_file() { std::remove(path.c_str()); }
};

gw::config parse(std::vector<std::string> flags, std::map<std::string, std::string> env = {}) {
    std::vector<const char*> argv{"sse-gateway"};
    for (const auto& a : flags) argv.push_back(a.c_str());
    return gw::parse_config(static_cast<int>(argv.size()), argv.data(),
                            [&env](const std::string& k) -> std::optional<std::string> {
                                auto it = env.find(k);
                                if (it == env.end()) return std::nullopt;
                                return it->second;
                            })
        .cfg;
}

// The error without its "--config: " (every error about the file starts so).
std::string error_of(std::vector<std::string> flags) {
    try {
        parse(std::move(flags));
    } catch (const gw::config_error& e) {
        const std::string what = e.what();
        if (what.rfind("--config: ", 0) != 0) return "missing --config prefix: " + what;
        return what.substr(10);
    }
    return "no error";
}

}  // namespace

TEST_CASE("config file keys are the flags' long names, with numbers, booleans and lists as TOML values",
          "[config]") {
    const toml_file f(R"(# the demo's settings
listen = "127.0.0.1:9000"
max-connections = 50000
jwt-require-exp = true
auth = ["proxy-header", "jwt"]
cors-origins = "https://a.example, https://b.example"
proxy-networks = []
)");
    const auto c = parse({"--config", f.path});
    CHECK(c.listen_host == "127.0.0.1");
    CHECK(c.listen_port == 9000);
    CHECK(c.max_connections == 50000);
    CHECK(c.jwt_require_exp);
    CHECK(c.auth_modes == std::vector<std::string>{"proxy-header", "jwt"});
    CHECK(c.cors_origins == std::vector<std::string>{"https://a.example", "https://b.example"});
    CHECK(c.proxy_networks.empty());
}

TEST_CASE("a flag beats its env twin, which beats the config file, which beats the default", "[config]") {
    const toml_file f("heartbeat = 20\nevent = \"from_file\"\nwrap-field = \"file_field\"\n");
    const auto c = parse({"--config=" + f.path, "--heartbeat", "30"},
                         {{"SSE_GATEWAY_HEARTBEAT", "25"}, {"SSE_GATEWAY_EVENT", "from_env"}});
    CHECK(c.heartbeat == std::chrono::seconds(30));
    CHECK(c.event_name == "from_env");
    CHECK(c.wrap_field == "file_field");
    CHECK(c.replay_size == 64);
}

TEST_CASE("the config file can be named by SSE_GATEWAY_CONFIG", "[config]") {
    const toml_file f("event = \"named_by_env\"\n");
    CHECK(parse({}, {{"SSE_GATEWAY_CONFIG", f.path}}).event_name == "named_by_env");
}

TEST_CASE("a config file's bad key, value or syntax is one line naming the file and line", "[config]") {
    const toml_file unknown("event = \"x\"\n\nmax-conections = 5\n");
    CHECK(error_of({"--config", unknown.path}) ==
          unknown.path + ":3: unknown key 'max-conections' (see --help)");
    const toml_file bad_value("listen = \"nowhere\"\n");
    CHECK(error_of({"--config", bad_value.path}) ==
          bad_value.path + ":1: listen: expected ADDRESS:PORT, got 'nowhere'");
    const toml_file nested("config = \"/etc/other.toml\"\n");
    CHECK(error_of({"--config", nested.path}) == nested.path + ":1: unknown key 'config' (see --help)");
    const toml_file float_value("heartbeat = 1.5\n");
    CHECK(error_of({"--config", float_value.path}).find(float_value.path + ":1: heartbeat: expected a string") == 0);
    const toml_file comma_item("auth = [\"jwt,proxy-header\"]\n");
    CHECK(error_of({"--config", comma_item.path}).find(comma_item.path + ":1: auth: list items") == 0);
    const toml_file syntax("listen = \n");
    const auto e = error_of({"--config", syntax.path});
    CHECK(e.find(syntax.path + ":1: not TOML: ") == 0);
    CHECK(e.find('\n') == std::string::npos);
    CHECK(error_of({"--config", "/nonexistent/gw.toml"}) == "cannot read /nonexistent/gw.toml: No such file or directory");
    const toml_file nul(std::string("x = 1\n[  \0ar]\n", 14));
    CHECK(error_of({"--config", nul.path}) == nul.path + ":2: not TOML: control character U+0000");
    CHECK(error_of({"--config", "/tmp"}) == "/tmp is not a regular file");
    CHECK(error_of({"--config", "/dev/zero"}) == "/dev/zero is not a regular file");
}

TEST_CASE("without [[route]] tables the flags make the one route, exactly as before", "[config][routes]") {
    const auto c = parse({"--stream-path", "/live", "--event", "status_changed", "--heartbeat", "7"});
    REQUIRE(c.routes.size() == 1);
    const auto& r = c.routes[0];
    CHECK(r.path == "/live");
    CHECK(r.key == gw::route_key::user);
    CHECK(r.payload == gw::payload_mode::status);
    CHECK(r.event_name == "status_changed");
    CHECK(r.heartbeat == std::chrono::seconds(7));
    CHECK(r.channel_template == "user_{user}");
    CHECK(r.auth_modes == std::vector<std::string>{"proxy-header"});
}

TEST_CASE("a route's keys override the global options and what it leaves out falls back to them",
          "[config][routes]") {
    const toml_file f(R"(heartbeat = 20
event = "global_event"
rails-secret-key-base-file = "/run/secrets/skb"

[[route]]
path = "/authy/live_status"

[[route]]
path = "/feed"
channel-template = "feed_{user}"
payload = "raw"
event = ""
replay-size = 500
cors-origins = ["https://app.example"]

[[route]]
path = "/live/turbo"
key = "turbo-signed-stream"
channel-prefix = "demo_production"
)");
    const auto c = parse({"--config", f.path, "--retry-ms", "900"});
    REQUIRE(c.routes.size() == 3);
    const auto& authy = c.routes[0];
    CHECK(authy.path == "/authy/live_status");
    CHECK(authy.event_name == "global_event");
    CHECK(authy.heartbeat == std::chrono::seconds(20));
    CHECK(authy.retry == std::chrono::milliseconds(900));
    CHECK(authy.payload == gw::payload_mode::status);
    const auto& feed = c.routes[1];
    CHECK(feed.channel_template == "feed_{user}");
    CHECK(feed.payload == gw::payload_mode::raw);
    CHECK(feed.event_name.empty());
    CHECK(feed.replay_size == 500);
    CHECK(feed.cors_origins == std::vector<std::string>{"https://app.example"});
    CHECK(feed.heartbeat == std::chrono::seconds(20));
    const auto& turbo = c.routes[2];
    CHECK(turbo.key == gw::route_key::turbo_signed_stream);
    CHECK(turbo.payload == gw::payload_mode::action_cable);
    CHECK(turbo.event_name.empty());
    CHECK(turbo.auth_modes.empty());
    CHECK(turbo.channel_template.empty());
    CHECK(turbo.channel_prefix == std::optional<std::string>("demo_production"));
    CHECK(turbo.retry == std::chrono::milliseconds(900));
}

TEST_CASE("a turbo route may still require identity and name its events", "[config][routes]") {
    const toml_file f(R"(rails-secret-key-base = "x"
[[route]]
path = "/turbo"
key = "turbo-signed-stream"
auth = "jwt"
event = "turbo"
payload = "raw"
)");
    const auto r = parse({"--config", f.path}).routes.at(0);
    CHECK(r.auth_modes == std::vector<std::string>{"jwt"});
    CHECK(r.event_name == "turbo");
    CHECK(r.payload == gw::payload_mode::raw);
    CHECK_FALSE(r.channel_prefix.has_value());
}

TEST_CASE("bad routes are one-line errors naming the file, the line and the key", "[config][routes]") {
    const std::string skb = "rails-secret-key-base = \"x\"\n";
    const toml_file unknown(skb + "[[route]]\npath = \"/a\"\nmax-connections = 5\n");
    CHECK(error_of({"--config", unknown.path}) ==
          unknown.path + ":4: route: unknown key 'max-connections' (see proto_docs/routes.md)");
    const toml_file duplicate(skb + "[[route]]\npath = \"/a\"\n[[route]]\npath = \"/a\"\n");
    CHECK(error_of({"--config", duplicate.path}) == duplicate.path + ":4: route: path /a is already a route");
    const toml_file no_path(skb + "[[route]]\nevent = \"x\"\n");
    CHECK(error_of({"--config", no_path.path}) == no_path.path + ":2: route: path is required");
    const toml_file bad_value(skb + "[[route]]\npath = \"/a\"\nreplay-size = -1\n");
    CHECK(error_of({"--config", bad_value.path}).find(bad_value.path + ":4: route: replay-size: ") == 0);
    const toml_file bad_key(skb + "[[route]]\npath = \"/a\"\nkey = \"session\"\n");
    CHECK(error_of({"--config", bad_key.path}) ==
          bad_key.path + ":4: route: key: must be user or turbo-signed-stream");
    const toml_file bad_payload(skb + "[[route]]\npath = \"/a\"\npayload = \"html\"\n");
    CHECK(error_of({"--config", bad_payload.path}) ==
          bad_payload.path + ":4: route: payload: must be status, raw or action-cable");
    const toml_file builtin(skb + "[[route]]\npath = \"/metrics\"\n");
    CHECK(error_of({"--config", builtin.path}).find(builtin.path + ":3: route: path: collides") == 0);
    const toml_file no_secret("[[route]]\npath = \"/t\"\nkey = \"turbo-signed-stream\"\n");
    CHECK(error_of({"--config", no_secret.path}) ==
          no_secret.path +
              ":1: route: /t: a turbo-signed-stream route needs rails-secret-key-base or rails-secret-key-base-file");
    const toml_file user_template(skb + "[[route]]\npath = \"/t\"\nkey = \"turbo-signed-stream\"\n" +
                                  "channel-template = \"user_{user}\"\n");
    CHECK(error_of({"--config", user_template.path}).find(user_template.path +
                                                          ":5: route: channel-template does not apply") == 0);
    const toml_file user_prefix(skb + "[[route]]\npath = \"/a\"\nchannel-prefix = \"p\"\n");
    CHECK(error_of({"--config", user_prefix.path}) ==
          user_prefix.path + ":4: route: channel-prefix applies to turbo-signed-stream routes only");
    const toml_file no_auth(skb + "[[route]]\npath = \"/a\"\nauth = []\n");
    CHECK(error_of({"--config", no_auth.path}) == no_auth.path + ":2: route: /a: a user route needs an auth mode");
    const toml_file other_table("[server]\nlisten = \"x\"\n");
    CHECK(error_of({"--config", other_table.path}).find(other_table.path + ":1: [server] is no table") == 0);
}

TEST_CASE("non-ASCII text is welcome in strings and comments, and refused where TOML forbids it", "[config]") {
    const toml_file ok("# caf\xc3\xa9\nevent = \"caf\xc3\xa9\"\nwrap-field = '''\xc3\xa9t\xc3\xa9'''\n"
                       "snapshot-sql = \"\"\"SELECT '\xc3\xa9' \\\"\"\"\"\"\nuser-pattern = '^\xc3\xa9$'\n");
    const auto c = parse({"--config", ok.path});
    CHECK(c.event_name == "caf\xc3\xa9");
    CHECK(c.wrap_field == "\xc3\xa9t\xc3\xa9");
    CHECK(c.snapshot_sql == "SELECT '\xc3\xa9' \"\"");
    const toml_file bare_key("event = \"x\"\n\xc3\xa9 = 1\n");
    CHECK(error_of({"--config", bare_key.path}) ==
          bare_key.path + ":2: not TOML: a non-ASCII character outside a string or comment");
    const toml_file deep("a = " + std::string(17, '[') + std::string(17, ']') + "\n");
    CHECK(error_of({"--config", deep.path}) == deep.path + ":1: not TOML: arrays or tables nested deeper than 16");
    const toml_file header("[r\xc3\xa9]\n");
    CHECK(error_of({"--config", header.path}).find(header.path + ":1: not TOML: a non-ASCII") == 0);
}

TEST_CASE("a non-ASCII character right after a backslash in a string is refused before toml++ reads it",
          "[config]") {
    // toml++ 3.3 reaches __builtin_unreachable() asking whether such a character is
    // whitespace (found by fuzz_config_file).
    const toml_file escaped("event = \"\"\"a\\\xc3\xa9\"\"\"\n");
    CHECK(error_of({"--config", escaped.path}) ==
          escaped.path + ":1: not TOML: a non-ASCII character after a backslash in a string");
    const toml_file line_end("event = \"\"\"a \\\n   \xc3\xa9\"\"\"\n");
    CHECK(error_of({"--config", line_end.path}) ==
          line_end.path + ":2: not TOML: a non-ASCII character after a backslash in a string");
    const toml_file fine("event = \"\"\"a \\\n   b\xc3\xa9\"\"\"\n");
    CHECK(parse({"--config", fine.path}).event_name == "a b\xc3\xa9");
}

TEST_CASE("errors about the config file start with where its name came from, flag or env twin", "[config]") {
    const toml_file f("max-conections = 5\n");
    try {
        parse({}, {{"SSE_GATEWAY_CONFIG", f.path}});
        FAIL("accepted");
    } catch (const gw::config_error& e) {
        CHECK(std::string(e.what()) == "SSE_GATEWAY_CONFIG: " + f.path + ":1: unknown key 'max-conections' (see --help)");
    }
    CHECK(error_of({"--config", "/tmp/a\rb"}) == "/tmp/a\\rb: a path with control characters is refused");
}
