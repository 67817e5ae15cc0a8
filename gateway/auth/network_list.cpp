#include "auth/network_list.hpp"

#include <stdexcept>

namespace gw::auth {

network_list::network_list(const std::vector<std::string>& cidrs) {
    for (const auto& c : cidrs) {
        error_code ec;
        const bool has_prefix = c.find('/') != std::string::npos;
        if (c.find(':') != std::string::npos) {
            auto n = has_prefix ? net::ip::make_network_v6(c, ec)
                                : net::ip::network_v6(net::ip::make_address_v6(c, ec), 128);
            if (ec) throw std::invalid_argument("bad network '" + c + "'");
            v6_.push_back(n);
        } else {
            auto n =
                has_prefix ? net::ip::make_network_v4(c, ec) : net::ip::network_v4(net::ip::make_address_v4(c, ec), 32);
            if (ec) throw std::invalid_argument("bad network '" + c + "'");
            v4_.push_back(n);
        }
    }
}

bool network_list::allows(const net::ip::address& a) const {
    if (empty()) return true;
    // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
    if (a.is_v6() && a.to_v6().is_v4_mapped()) return allows(net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()));
    if (a.is_v4()) {
        for (const auto& n : v4_) {
            auto host = net::ip::network_v4(a.to_v4(), n.prefix_length());
            if (host.network() == n.network()) return true;
        }
        return false;
    }
    for (const auto& n : v6_) {
        auto host = net::ip::network_v6(a.to_v6(), n.prefix_length());
        if (host.network() == n.network()) return true;
    }
    return false;
}

}  // namespace gw::auth
