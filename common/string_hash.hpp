#pragma once
// A transparent hash for maps and sets keyed by std::string: with
// std::equal_to<>, a string_view (a NOTIFY's channel, a row's view into a
// result) is looked up without building a string. Thread rule: stateless.
#include <cstddef>
#include <functional>
#include <string_view>

namespace gw {

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace gw
