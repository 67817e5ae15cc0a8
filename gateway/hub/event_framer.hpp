#pragma once
// Frames a NOTIFY payload once into the SSE bytes every subscriber of the channel
// gets, with an event id unique to this process run ("<boot>-<seq>"), so an id
// from another instance or an earlier run is recognisable as foreign.
// Thread rule: call only from the listener's thread.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace gw::hub {

class event_framer {
public:
    event_framer(std::string event_name, std::string wrap_field);

    std::shared_ptr<const std::string> frame(std::string_view payload);
    const std::string& boot_id() const { return boot_; }

private:
    std::string event_name_;
    std::string wrap_field_;
    std::string boot_;
    std::uint64_t seq_ = 0;
};

}  // namespace gw::hub
