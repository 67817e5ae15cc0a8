#pragma once
// Frames a payload once into the SSE bytes every subscriber of the channel gets,
// with the event id "<boot>-<seq>": the boot id is random per process run, so an
// id from another instance or an earlier run is recognisable as foreign.
// Thread rule: immutable after construction.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace gw::hub {

class event_framer {
public:
    event_framer(std::string event_name, std::string wrap_field);

    std::shared_ptr<const std::string> frame(std::uint64_t seq, std::string_view payload) const;
    const std::string& boot_id() const { return boot_; }

private:
    std::string event_name_;
    std::string wrap_field_;
    std::string boot_;
};

}  // namespace gw::hub
