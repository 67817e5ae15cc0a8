#include "hub/loop.hpp"

#include <algorithm>

namespace gw::hub {

std::uint64_t loop::track(std::weak_ptr<closable> c) {
    assert_on_thread(ioc_);
    auto id = ++next_track_id_;
    tracked_.emplace(id, std::move(c));
    return id;
}

void loop::untrack(std::uint64_t id) {
    assert_on_thread(ioc_);
    tracked_.erase(id);
}

void loop::post_drain(std::chrono::milliseconds spread) {
    net::post(ioc_, [this, spread] {
        std::uniform_int_distribution<std::int64_t> pick(0, std::max<std::int64_t>(spread.count(), 0));
        for (auto& [id, w] : tracked_) {
            auto t = std::make_shared<net::steady_timer>(ioc_, std::chrono::milliseconds(pick(rng_)));
            t->async_wait([t, w](error_code) {
                if (auto c = w.lock()) c->close(close_reason::shutdown);
            });
        }
    });
}

void loop::post_close_all() {
    net::post(ioc_, [this] {
        auto all = tracked_;
        for (auto& [id, w] : all)
            if (auto c = w.lock()) c->close(close_reason::shutdown);
    });
}

}  // namespace gw::hub
