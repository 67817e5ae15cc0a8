#include "metrics.hpp"

#include <cmath>
#include <cstdio>

namespace gw::metrics {

void histogram::observe(double seconds) {
    std::size_t i = 0;
    while (i < size && seconds > bounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

void histogram::merge_into(snapshot& out) const {
    for (std::size_t i = 0; i <= size; ++i) out.buckets[i] += buckets_[i].load(std::memory_order_relaxed);
    out.sum += static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

void exposition::histogram(std::string_view n, std::string_view help, const histogram::snapshot& h) {
    header(n, "histogram", help);
    histogram_samples(n, h, {});
}

void exposition::histogram_samples(std::string_view n, const histogram::snapshot& h, label extra) {
    std::uint64_t cumulative = 0;
    std::string bucket = std::string(n) + "_bucket";
    for (std::size_t i = 0; i <= histogram::size; ++i) {
        cumulative += h.buckets[i];
        char le[32];
        if (i < histogram::size)
            std::snprintf(le, sizeof le, "%g", histogram::bounds[i]);
        else
            std::snprintf(le, sizeof le, "+Inf");
        sample(bucket, {extra, {"le", le}}, static_cast<double>(cumulative));
    }
    sample(std::string(n) + "_sum", {extra}, h.sum);
    sample(std::string(n) + "_count", {extra}, static_cast<double>(cumulative));
}

void exposition::name(std::string_view n) {
    out_.append("sse_gateway_").append(n);
}

void exposition::value(double v) {
    char buf[32];
    if (std::isnan(v))
        std::snprintf(buf, sizeof buf, " NaN\n");  // Prometheus's spelling
    else if (v == std::floor(v) && std::fabs(v) < 1e15)
        std::snprintf(buf, sizeof buf, " %.0f\n", v);
    else
        std::snprintf(buf, sizeof buf, " %.9g\n", v);
    out_.append(buf);
}

void exposition::counter(std::string_view n, std::string_view help, std::uint64_t v) {
    header(n, "counter", help);
    sample(n, static_cast<double>(v));
}

void exposition::gauge(std::string_view n, std::string_view help, std::int64_t v) {
    header(n, "gauge", help);
    sample(n, static_cast<double>(v));
}

void exposition::header(std::string_view n, std::string_view type, std::string_view help) {
    out_.append("# HELP ");
    name(n);
    out_.append(" ").append(help).append("\n# TYPE ");
    name(n);
    out_.append(" ").append(type).append("\n");
}

void exposition::sample(std::string_view n, double v) {
    name(n);
    value(v);
}

void exposition::sample(std::string_view n, std::string_view label, std::string_view label_value, double v) {
    sample(n, {{label, label_value}}, v);
}

void exposition::sample(std::string_view n, std::initializer_list<label> labels, double v) {
    name(n);
    bool first = true;
    for (const auto& [key, text] : labels) {
        if (text.empty()) continue;
        out_.append(first ? "{" : ",").append(key).append("=\"");
        first = false;
        for (char c : text) {
            if (c == '\\' || c == '"')
                out_ += '\\', out_ += c;
            else if (c == '\n')
                out_.append("\\n");
            else
                out_ += c;
        }
        out_.append("\"");
    }
    if (!first) out_.append("}");
    value(v);
}

}  // namespace gw::metrics
