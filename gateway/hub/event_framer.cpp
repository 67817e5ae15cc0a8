#include "hub/event_framer.hpp"

#include "action_cable_payload.hpp"
#include "payload_rule.hpp"
#include "sse_frame.hpp"

#include <cstdio>
#include <random>

namespace gw::hub {

event_framer::event_framer(std::string event_name, std::string wrap_field, payload_mode payload)
    : event_name_(std::move(event_name)), wrap_field_(std::move(wrap_field)), payload_(payload) {
    std::random_device rd;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
    boot_ = buf;
}

std::shared_ptr<const std::string> event_framer::frame(std::uint64_t seq, std::string_view payload) const {
    std::string id = boot_ + "-" + std::to_string(seq);
    switch (payload_) {
        case payload_mode::raw:
            return std::make_shared<const std::string>(sse::frame_event(id, event_name_, payload));
        case payload_mode::action_cable:
            return std::make_shared<const std::string>(sse::frame_event(id, event_name_, action_cable_text(payload)));
        case payload_mode::status:
            break;
    }
    return std::make_shared<const std::string>(sse::frame_event(id, event_name_, event_data(payload, wrap_field_)));
}

}  // namespace gw::hub
