#pragma once
// Reading a Last-Event-ID a browser sends back on reconnect. Event ids are
// "<boot id>-<sequence>" (hub/router.hpp); an id from another process, another
// run or anything else is foreign and gets no replay.
// Thread rule: pure function; any thread. Fuzzed by tests/fuzz/fuzz_http_head.cpp.
#include <cstdint>
#include <optional>
#include <string_view>

namespace gw::web {

// The sequence of `id` when it is "<boot>-<decimal digits>" with this process's
// `boot` id and the digits fit 64 bits; nullopt otherwise.
std::optional<std::uint64_t> own_sequence(std::string_view id, std::string_view boot);

}  // namespace gw::web
