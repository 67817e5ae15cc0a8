// Linked into every fuzz target: the sanitizer defaults and the small stack.
//
// Sanitizer defaults are compiled in, so a reproducer behaves the same however the
// binary is started (an environment's UBSAN_OPTIONS still wins per key).
// RapidJSON 1.1.0's internal/stack.h does arithmetic on a null pointer (a known
// upstream issue, fixed after 1.1.0): that one check is recoverable in this build
// (CMakeLists.txt) and suppressed for that one header (ubsan.supp); every other
// UBSan report halts.
//
// The small stack: the targets run on the main thread, and before libFuzzer starts
// the process re-executes itself with a 256 KiB stack limit. A recursion that only
// a deep input drives (a JSON text of nothing but '[') then overflows, which ASan
// reports as stack-overflow, whatever the machine's own limit is. The gateway's
// threads get the system default (8 MiB on Debian), but container runtimes, musl
// builds or a future thread-stack setting give less, so a parser must not need more
// than a small, fixed amount. (A thread per input would cost ~100 us under ASan.)
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace {
constexpr rlim_t small_stack_bytes = 256 * 1024;
}

extern "C" const char* __ubsan_default_options() {
    return "halt_on_error=1:print_stacktrace=1:report_error_type=1:suppressions=" GW_FUZZ_UBSAN_SUPPRESSIONS;
}

extern "C" int LLVMFuzzerInitialize(int*, char*** argv) {
    rlimit lim{};
    if (getrlimit(RLIMIT_STACK, &lim) != 0) return 0;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur <= small_stack_bytes) return 0;
    lim.rlim_cur = small_stack_bytes;
    if (setrlimit(RLIMIT_STACK, &lim) != 0) {
        std::perror("fuzz: setrlimit(RLIMIT_STACK)");
        std::abort();
    }
    // The limit applies to a new program's main thread only: run this one again.
    execv("/proc/self/exe", *argv);
    std::perror("fuzz: re-executing with a small stack");
    std::abort();
}
