#include "metrics.hpp"

#include <cmath>
#include <cstdio>

namespace gw::metrics {

void exposition::name(std::string_view n) { out_.append("sse_gateway_").append(n); }

void exposition::value(double v) {
    char buf[32];
    if (v == std::floor(v) && std::fabs(v) < 1e15)
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
    name(n);
    out_.append("{").append(label).append("=\"");
    for (char c : label_value) {
        if (c == '\\' || c == '"')
            out_ += '\\', out_ += c;
        else if (c == '\n')
            out_.append("\\n");
        else
            out_ += c;
    }
    out_.append("\"}");
    value(v);
}

}  // namespace gw::metrics
