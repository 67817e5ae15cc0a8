#pragma once
// Runs a function on a thread with a 256 KiB stack, as some container runtimes and
// musl builds give threads: code that recursed once per nesting level of its input
// overflows it (SIGSEGV) where the main thread's 8 MiB would hide the bug.
// Catch2's assertions are not thread-safe: `f` records, the caller checks after.
#include <catch2/catch.hpp>

#include <pthread.h>

#include <functional>

namespace gw::test {

inline constexpr std::size_t small_stack_bytes = 256 * 1024;

inline void run_on_small_stack(const std::function<void()>& f, std::size_t bytes = small_stack_bytes) {
    pthread_attr_t attr;
    REQUIRE(pthread_attr_init(&attr) == 0);
    REQUIRE(pthread_attr_setstacksize(&attr, bytes) == 0);
    pthread_t thread;
    auto start = [](void* fn) -> void* {
        (*static_cast<const std::function<void()>*>(fn))();
        return nullptr;
    };
    const int created = pthread_create(&thread, &attr, start, const_cast<std::function<void()>*>(&f));
    pthread_attr_destroy(&attr);
    REQUIRE(created == 0);
    REQUIRE(pthread_join(thread, nullptr) == 0);
}

}  // namespace gw::test
