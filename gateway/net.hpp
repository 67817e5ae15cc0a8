#pragma once
// The one place that names the Asio/Beast namespaces used across the gateway.
// Because gw::http is Beast's http, our own HTTP layer (gateway/http/) lives in
// namespace gw::web.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace gw {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;
}  // namespace gw
