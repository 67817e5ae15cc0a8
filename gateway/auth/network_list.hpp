#pragma once
// A list of CIDR networks ("10.0.0.0/8", "::1/128", "127.0.0.1"). Thread rule:
// immutable after construction.
#include "net.hpp"

#include <string>
#include <vector>

namespace gw::auth {

class network_list {
public:
    network_list() = default;
    // Throws std::invalid_argument naming the bad entry.
    explicit network_list(const std::vector<std::string>& cidrs);

    bool empty() const { return v4_.empty() && v6_.empty(); }
    // True when the list is empty or the address is in one of the networks.
    bool allows(const net::ip::address& a) const;

private:
    std::vector<net::ip::network_v4> v4_;
    std::vector<net::ip::network_v6> v6_;
};

}  // namespace gw::auth
