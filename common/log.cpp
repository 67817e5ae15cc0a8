#include "log.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>

namespace gw::log {

namespace {

std::atomic<int> min_level{static_cast<int>(log_level::info)};

constexpr std::string_view level_name(log_level l) {
    switch (l) {
        case log_level::debug:
            return "debug";
        case log_level::info:
            return "info";
        case log_level::warn:
            return "warn";
        case log_level::error:
            return "error";
    }
    return "info";
}

std::string timestamp() {
    using namespace std::chrono;
    auto now = system_clock::now();
    auto secs = system_clock::to_time_t(now);
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
    return buf;
}

}  // namespace

struct line::impl {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w{sb};

    void key(std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
    void text(std::string_view v) { w.String(v.data(), static_cast<rapidjson::SizeType>(v.size())); }
};

void set_level(log_level level) {
    min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool enabled(log_level level) {
    return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed);
}

log_level parse_level(std::string_view name) {
    for (auto l : {log_level::debug, log_level::info, log_level::warn, log_level::error})
        if (name == level_name(l)) return l;
    throw config_error("--log-level: must be one of debug, info, warn, error");
}

line::line(log_level level, std::string_view msg) {
    if (!enabled(level)) return;
    impl_ = std::make_unique<impl>();
    impl_->w.StartObject();
    impl_->key("ts");
    impl_->text(timestamp());
    impl_->key("level");
    impl_->text(level_name(level));
    impl_->key("msg");
    impl_->text(msg);
}

line::~line() {
    if (!impl_) return;
    impl_->w.EndObject();
    impl_->sb.Put('\n');
    const char* p = impl_->sb.GetString();
    std::size_t left = impl_->sb.GetSize();
    // One write() per line keeps lines whole across threads (stdout as a pipe or file).
    while (left > 0) {
        auto n = ::write(STDOUT_FILENO, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

line& line::str(std::string_view key, std::string_view value) {
    if (impl_) {
        impl_->key(key);
        impl_->text(value);
    }
    return *this;
}

line& line::num(std::string_view key, std::int64_t value) {
    if (impl_) {
        impl_->key(key);
        impl_->w.Int64(value);
    }
    return *this;
}

line& line::num(std::string_view key, double value) {
    if (impl_) {
        impl_->key(key);
        impl_->w.Double(value);
    }
    return *this;
}

line& line::flag(std::string_view key, bool value) {
    if (impl_) {
        impl_->key(key);
        impl_->w.Bool(value);
    }
    return *this;
}

}  // namespace gw::log
