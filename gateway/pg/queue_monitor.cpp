#include "pg/queue_monitor.hpp"

#include "log.hpp"

#include <charconv>
#include <limits>

namespace gw::pg {

namespace {

constexpr const char* usage_sql = "SELECT pg_notification_queue_usage()";

std::optional<double> parse_fraction(const std::optional<std::string>& text) {
    if (!text) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc{} || p != text->data() + text->size() || !(v >= 0 && v <= 1)) return std::nullopt;
    return v;
}

}  // namespace

queue_monitor::queue_monitor(net::io_context& ioc, query_pool& pool, std::chrono::seconds interval)
    : pool_(pool), interval_(interval), timer_(ioc), usage_(std::numeric_limits<double>::quiet_NaN()) {}

void queue_monitor::start() {
    net::post(timer_.get_executor(), [this] { do_read(); });
}

void queue_monitor::stop() {
    stopped_ = true;
    timer_.cancel();
}

void queue_monitor::arm() {
    timer_.expires_after(interval_);
    timer_.async_wait([this](error_code ec) {
        if (!ec) do_read();
    });
}

void queue_monitor::do_read() {
    if (stopped_) return;
    arm();
    // The previous read still waits behind snapshots or a slow database: skip this one.
    if (in_flight_) return;
    in_flight_ = true;
    pool_.run_statement(usage_sql, [this](bool ok, std::optional<std::string> value) { on_read(ok, value); });
}

void queue_monitor::on_read(bool ok, const std::optional<std::string>& value) {
    in_flight_ = false;
    const auto fraction = ok ? parse_fraction(value) : std::nullopt;
    const bool was_up = up();
    if (fraction) {
        usage_.store(*fraction, std::memory_order_relaxed);
        up_.store(true, std::memory_order_relaxed);
        return;
    }
    failures_.inc();
    up_.store(false, std::memory_order_relaxed);
    // Once per outage, not every interval: the pool logs the cause.
    if (was_up || failures_.value() == 1)
        log::warn("notification queue usage unreadable").str("answer", value.value_or(ok ? "NULL" : "no answer"));
}

}  // namespace gw::pg
