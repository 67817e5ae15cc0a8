#include "auth/network_list.hpp"

#include <catch2/catch.hpp>

using gw::auth::network_list;
namespace ip = boost::asio::ip;

TEST_CASE("an empty network list allows every source", "[network]") {
    CHECK(network_list{}.allows(ip::make_address("203.0.113.9")));
}

TEST_CASE("sources are matched against IPv4 and IPv6 networks", "[network]") {
    network_list n({"10.0.0.0/8", "192.168.1.7", "fd00::/8"});
    CHECK(n.allows(ip::make_address("10.200.3.4")));
    CHECK(n.allows(ip::make_address("192.168.1.7")));
    CHECK_FALSE(n.allows(ip::make_address("192.168.1.8")));
    CHECK_FALSE(n.allows(ip::make_address("11.0.0.1")));
    CHECK(n.allows(ip::make_address("fd12::1")));
    CHECK_FALSE(n.allows(ip::make_address("2001:db8::1")));
}

TEST_CASE("an IPv4 client seen on a dual-stack socket matches its IPv4 network", "[network]") {
    network_list n({"127.0.0.0/8"});
    CHECK(n.allows(ip::make_address("::ffff:127.0.0.1")));
}

TEST_CASE("a malformed network is refused with its text", "[network]") {
    CHECK_THROWS_WITH(network_list({"10.0.0.0/33"}), Catch::Contains("10.0.0.0/33"));
    CHECK_THROWS_AS(network_list({"banana"}), std::invalid_argument);
}
