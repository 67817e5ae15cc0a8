#pragma once
// The current version of an immutable value that is replaced whole: readers take a
// shared_ptr to the version in force and keep using it however long they need,
// while a writer publishes the next one. This is how credentials rotate under
// running loops: a reload or a JWKS fetch builds a new key set off to the side and
// publishes it; an authenticate() already running finishes with the old one, which
// is freed when its last reader lets go.
// Thread rule: get() and set() from any thread.
#include <atomic>
#include <memory>

namespace gw::auth {

template <class T>
class published {
public:
    explicit published(std::shared_ptr<const T> initial) : current_(std::move(initial)) {}

    std::shared_ptr<const T> get() const { return current_.load(std::memory_order_acquire); }
    void set(std::shared_ptr<const T> next) { current_.store(std::move(next), std::memory_order_release); }

private:
    std::atomic<std::shared_ptr<const T>> current_;
};

}  // namespace gw::auth
