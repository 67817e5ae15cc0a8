#pragma once
// Why a stream (or a connection) ends. Named in code; the text exists only at the
// edges: the "stream close" log line and the stream_closes_total{reason} label.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gw::hub {

enum class close_reason : std::uint8_t {
    client_closed,         // the client closed its side (EOF)
    read_error,            // the connection failed while reading
    write_error,           // the connection failed while writing
    write_timeout,         // a write made no progress for two heartbeat periods
    slow_consumer,         // the output queue passed --max-queue-bytes
    shutdown,              // the drain, or the hard close at its end
    credentials_expired,   // the JWT exp / Rails envelope expiry passed
    database_unavailable,  // answered 503: the channel was not listened in time
};

inline constexpr std::size_t close_reason_count = 8;

constexpr std::string_view to_string(close_reason r) {
    constexpr std::array<std::string_view, close_reason_count> names = {
        "client_closed", "read_error", "write_error",         "write_timeout",
        "slow_consumer", "shutdown",   "credentials_expired", "database_unavailable"};
    return names[static_cast<std::size_t>(r)];
}

constexpr std::size_t index_of(close_reason r) {
    return static_cast<std::size_t>(r);
}

}  // namespace gw::hub
