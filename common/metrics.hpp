#pragma once
// Metric types and the Prometheus text writer. Counters and gauges are relaxed
// atomics: each is written by one owner (a shard, the listener) and read by the
// /metrics page, so the per-event path never takes a lock or contends a line.
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace gw::metrics {

class counter {
public:
    void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

class gauge {
public:
    void add(std::int64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
    void set(std::int64_t n) { v_.store(n, std::memory_order_relaxed); }
    std::int64_t value() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::int64_t> v_{0};
};

// Builds a Prometheus text exposition (version 0.0.4). Names get the
// "sse_gateway_" prefix; label values are escaped.
class exposition {
public:
    // A family with one unlabelled sample.
    void counter(std::string_view name, std::string_view help, std::uint64_t value);
    void gauge(std::string_view name, std::string_view help, std::int64_t value);
    void header(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, double value);
    void sample(std::string_view name, std::string_view label, std::string_view label_value, double value);
    const std::string& text() const { return out_; }

private:
    void name(std::string_view n);
    void value(double v);
    std::string out_;
};

}  // namespace gw::metrics
