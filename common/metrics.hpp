#pragma once
// Metric types and the Prometheus text writer. Counters and gauges are relaxed
// atomics: each is written by one owner (the stream registry, the listener) and read by the
// /metrics page, so the per-event path never takes a lock or contends a line.
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

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

// Fixed-bucket latency histogram in seconds. One owner observes (relaxed
// atomics); readers add histograms up with merge_into().
class histogram {
public:
    static constexpr double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                        0.01,   0.025,   0.05,   0.1,   0.25,   1.0};
    static constexpr std::size_t size = sizeof(bounds) / sizeof(bounds[0]);

    void observe(double seconds);
    struct snapshot {
        std::uint64_t buckets[size + 1] = {};  // not cumulative; the last is +Inf
        double sum = 0;
    };
    void merge_into(snapshot& out) const;

private:
    std::atomic<std::uint64_t> buckets_[size + 1] = {};
    std::atomic<std::uint64_t> sum_ns_{0};
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
    // Labels in the order given; one with an empty value is left out (Prometheus
    // reads it as absent anyway).
    using label = std::pair<std::string_view, std::string_view>;
    void sample(std::string_view name, std::initializer_list<label> labels, double value);
    void histogram(std::string_view name, std::string_view help, const histogram::snapshot& h);
    // One labelled histogram's samples, after its family's header().
    void histogram_samples(std::string_view name, const histogram::snapshot& h, label extra);
    const std::string& text() const { return out_; }

private:
    void name(std::string_view n);
    void value(double v);
    std::string out_;
};

}  // namespace gw::metrics
