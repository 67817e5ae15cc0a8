#pragma once
// Shared by the libFuzzer targets in this folder (built with -DSSE_GATEWAY_FUZZ=ON).
//
// fuzz_check() is the targets' assert: it aborts with a message (libFuzzer saves
// the input as a crash) whatever NDEBUG says. Every target also runs on a small
// stack (fuzz_runtime.cpp).
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace gw::fuzz {

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
    std::fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", what, file, line);
    std::abort();
}

#define fuzz_check(cond) ((cond) ? (void)0 : ::gw::fuzz::fail(#cond, __FILE__, __LINE__))

inline std::string_view as_text(const unsigned char* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace gw::fuzz
