#include "metrics.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace gw::metrics;

TEST_CASE("a histogram renders cumulative buckets, sum and count", "[metrics]") {
    histogram h;
    h.observe(0.00005);  // first bucket
    h.observe(0.0003);   // le 0.0005
    h.observe(5.0);      // +Inf
    histogram::snapshot s;
    h.merge_into(s);
    exposition e;
    e.histogram("lat_seconds", "help text", s);
    const auto& t = e.text();
    CHECK(t.find("# TYPE sse_gateway_lat_seconds histogram\n") != std::string::npos);
    CHECK(t.find("sse_gateway_lat_seconds_bucket{le=\"0.0001\"} 1\n") != std::string::npos);
    CHECK(t.find("sse_gateway_lat_seconds_bucket{le=\"0.00025\"} 1\n") != std::string::npos);
    CHECK(t.find("sse_gateway_lat_seconds_bucket{le=\"0.0005\"} 2\n") != std::string::npos);
    CHECK(t.find("sse_gateway_lat_seconds_bucket{le=\"1\"} 2\n") != std::string::npos);
    CHECK(t.find("sse_gateway_lat_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
    CHECK(t.find("sse_gateway_lat_seconds_count 3\n") != std::string::npos);
    CHECK(t.find("sse_gateway_lat_seconds_sum 5.00035") != std::string::npos);
}

TEST_CASE("histograms of several owners add up", "[metrics]") {
    histogram a, b;
    a.observe(0.001);
    b.observe(0.001);
    histogram::snapshot s;
    a.merge_into(s);
    b.merge_into(s);
    CHECK(s.buckets[3] == 2);
}

TEST_CASE("label values are escaped and plain families have one sample", "[metrics]") {
    exposition e;
    e.sample("x_total", "reason", "a\"b\\c\nd", 2);
    e.counter("y_total", "Y.", 7);
    e.gauge("z", "Z.", -3);
    CHECK(e.text() ==
          "sse_gateway_x_total{reason=\"a\\\"b\\\\c\\nd\"} 2\n"
          "# HELP sse_gateway_y_total Y.\n# TYPE sse_gateway_y_total counter\nsse_gateway_y_total 7\n"
          "# HELP sse_gateway_z Z.\n# TYPE sse_gateway_z gauge\nsse_gateway_z -3\n");
}

TEST_CASE("an unknown value is written as Prometheus's NaN and fractions keep their digits", "[metrics]") {
    exposition e;
    e.sample("usage", std::numeric_limits<double>::quiet_NaN());
    e.sample("fill", 0.0019063949584960938);
    CHECK(e.text() == "sse_gateway_usage NaN\nsse_gateway_fill 0.00190639496\n");
}
