#pragma once
// Frames a payload once into the SSE bytes every subscriber of the channel gets,
// with the event id "<boot>-<seq>": the boot id is random per process run, so an
// id from another instance or an earlier run is recognisable as foreign.
// What the payload becomes as data depends on the route's payload mode:
//   status:       the payload rule (payload_rule.hpp): a JSON object as is, any
//                 other text wrapped in {"<wrap_field>": ...};
//   raw:          the payload's text;
//   action_cable: Action Cable's JSON encoding decoded (action_cable_payload.hpp).
// An empty event name frames unnamed events (no "event:" line).
// Thread rule: immutable after construction.
#include "config.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace gw::hub {

class event_framer {
public:
    event_framer(std::string event_name, std::string wrap_field, payload_mode payload = payload_mode::status);

    std::shared_ptr<const std::string> frame(std::uint64_t seq, std::string_view payload) const;
    const std::string& boot_id() const { return boot_; }

private:
    std::string event_name_;
    std::string wrap_field_;
    payload_mode payload_;
    std::string boot_;
};

}  // namespace gw::hub
