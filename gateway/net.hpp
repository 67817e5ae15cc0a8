#pragma once
// The one place that names the Asio/Beast namespaces used across the gateway.
// Because gw::http is Beast's http, our own HTTP layer (gateway/http/) lives in
// namespace gw::web.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cassert>

namespace gw {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

// The thread rules the headers state ("call only on the loop's thread") are
// checked here in builds with assertions (Debug, and so the sanitizer tree).
inline void assert_on_thread([[maybe_unused]] net::io_context& ioc) {
    assert(ioc.get_executor().running_in_this_thread() && "called off its io_context's thread");
}
}  // namespace gw
