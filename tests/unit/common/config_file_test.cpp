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

std::string error_of(std::vector<std::string> flags) {
    try {
        parse(std::move(flags));
    } catch (const gw::config_error& e) {
        return e.what();
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
    CHECK(error_of({"--config", "/nonexistent/gw.toml"}) ==
          "--config: cannot read /nonexistent/gw.toml: No such file or directory");
    CHECK(error_of({"--config", "/tmp"}) == "--config: /tmp is not a regular file");
    CHECK(error_of({"--config", "/dev/zero"}) == "--config: /dev/zero is not a regular file");
}
