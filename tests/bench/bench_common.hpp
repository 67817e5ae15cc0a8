// Pieces shared by the benchmark tools (sse-load, sse-notify-pub, sse-pg-floor):
// the clock, the latency histogram, per-phase statistics and their wire form,
// the payload format, /proc readers, the publisher's sequence state file and a
// tiny JSON writer. Header-only; no threads anywhere in these tools.
//
// Payload contract (publisher -> receiver): "<user>:<seq>:<send_ns>", where seq
// counts 1, 2, 3... per user across every publisher run that shares a state file
// and send_ns is CLOCK_MONOTONIC at send time (comparable across processes).
// User 0 means "every stream" (a broadcast channel): it has its own sequence.
#pragma once

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace gw::bench {

inline std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

[[noreturn]] inline void die(const std::string& what) {
    std::fprintf(stderr, "%s\n", what.c_str());
    std::exit(2);
}

inline std::uint64_t parse_u64(std::string_view s, const char* what) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || s.empty())
        die(std::string("bad number for ") + what + ": '" + std::string(s) + "'");
    return v;
}

inline double parse_double(const std::string& s, const char* what) {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v))
        die(std::string("bad number for ") + what + ": '" + s + "'");
    return v;
}

// "A-B" or "A" -> inclusive range.
struct user_range {
    std::uint64_t first = 1;
    std::uint64_t last = 1;
    std::uint64_t size() const { return last - first + 1; }
};

inline user_range parse_range(const std::string& s) {
    auto dash = s.find('-');
    user_range r;
    if (dash == std::string::npos) {
        r.first = r.last = parse_u64(s, "--users");
    } else {
        r.first = parse_u64(std::string_view(s).substr(0, dash), "--users");
        r.last = parse_u64(std::string_view(s).substr(dash + 1), "--users");
    }
    if (r.last < r.first) die("--users: empty range " + s);
    return r;
}

// Loopback source addresses to bind client sockets to: "127.0.0.2-127.0.0.5" or "a,b,c".
inline std::vector<in_addr> parse_sources(const std::string& s) {
    std::vector<in_addr> out;
    auto parse_one = [](const std::string& a) {
        in_addr x{};
        if (inet_pton(AF_INET, a.c_str(), &x) != 1) die("bad source address " + a);
        return x;
    };
    if (auto dash = s.find('-'); dash != std::string::npos && s.find(',') == std::string::npos) {
        std::uint32_t a = ntohl(parse_one(s.substr(0, dash)).s_addr);
        std::uint32_t b = ntohl(parse_one(s.substr(dash + 1)).s_addr);
        if (b < a || b - a > 1024) die("bad source range " + s);
        for (std::uint32_t x = a; x <= b; ++x) out.push_back(in_addr{htonl(x)});
    } else {
        std::stringstream in(s);
        std::string tok;
        while (std::getline(in, tok, ','))
            if (!tok.empty()) out.push_back(parse_one(tok));
    }
    if (out.empty()) die("no source addresses");
    return out;
}

// A non-blocking TCP socket bound to `src` (the port is picked at connect() time
// from the whole 4-tuple, not per source) with its connect() under way; a
// `rcvbuf` above 0 shrinks the receive buffer (and so the window) first. -1 with
// errno set on failure, *step naming what failed.
inline int start_connect(const in_addr& src, const sockaddr_in& dst, const char** step, int rcvbuf = 0) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return *step = "socket", -1;
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr = src;
    const char* failed = nullptr;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
        failed = "bind";
    else if (::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS)
        failed = "connect";
    if (!failed) return fd;
    const int err = errno;
    ::close(fd);
    errno = err;
    *step = failed;
    return -1;
}

// Replaces every "{user}" in tmpl.
inline std::string expand_user(std::string_view tmpl, std::uint64_t user) {
    std::string out;
    out.reserve(tmpl.size() + 20);
    const std::string u = std::to_string(user);
    for (std::size_t i = 0; i < tmpl.size();) {
        if (tmpl.compare(i, 6, "{user}") == 0) {
            out += u;
            i += 6;
        } else {
            out += tmpl[i++];
        }
    }
    return out;
}

// Where an SSE client (sse-load, sse-churn) connects and what it asks for; the
// options of it that both tools take.
struct sse_target {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string path = "/authy/live_status";
    std::vector<std::string> headers;
    std::vector<in_addr> sources;
    std::unordered_map<std::uint64_t, std::string> names;  // --names: user -> {name}

    static constexpr const char* help =
        "  --host ADDR            server address (default 127.0.0.1)\n"
        "  --port P               server port\n"
        "  --path TEMPLATE        request path, {user} substituted (default /authy/live_status)\n"
        "  --header 'N: V'        extra request header, {user} substituted (repeatable)\n"
        "  --names FILE           lines \"USER TEXT\": {name} in --path and --header is the\n"
        "                         user's TEXT, as it is (e.g. a URL-escaped Turbo signed\n"
        "                         stream name); a user without a line is an error\n"
        "  --sources LIST         loopback source addresses: 127.0.0.2-127.0.0.5 or a,b,c\n";

    // Takes option `a` if it is one of the above (`value()` reads its argument).
    template <class Value>
    bool parse(const std::string& a, Value&& value) {
        if (a == "--host")
            host = value();
        else if (a == "--port")
            port = static_cast<std::uint16_t>(parse_u64(value(), "--port"));
        else if (a == "--path")
            path = value();
        else if (a == "--header")
            headers.push_back(value());
        else if (a == "--sources")
            sources = parse_sources(value());
        else if (a == "--names")
            names = read_names(value());
        else
            return false;
        return true;
    }

    static std::unordered_map<std::uint64_t, std::string> read_names(const std::string& file) {
        std::ifstream in(file);
        if (!in) die("--names: cannot read " + file);
        std::unordered_map<std::uint64_t, std::string> out;
        std::string line;
        while (std::getline(in, line)) {
            const auto sp = line.find(' ');
            if (line.empty()) continue;
            if (sp == std::string::npos) die("--names: a line without \"USER TEXT\" in " + file);
            out[parse_u64(std::string_view(line).substr(0, sp), "--names user")] = line.substr(sp + 1);
        }
        return out;
    }

    // `tmpl` with {user} and, given --names, {name} filled in for this user.
    std::string expand(std::string_view tmpl, std::uint64_t user) const {
        std::string out = expand_user(tmpl, user);
        if (names.empty()) return out;
        const auto at = out.find("{name}");
        if (at == std::string::npos) return out;
        const auto it = names.find(user);
        if (it == names.end()) die("--names has no line for user " + std::to_string(user));
        return out.replace(at, 6, it->second);
    }

    sockaddr_in address() const {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) die("bad --host " + host);
        return a;
    }

    std::string request(std::uint64_t user) const {
        std::string r = "GET " + expand(path, user) + " HTTP/1.1\r\nHost: " + host + ':' + std::to_string(port) +
                        "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n";
        for (const auto& h : headers) r += expand(h, user) + "\r\n";
        return r + "\r\n";
    }
};

// Walks argv: `on(option, value)` takes one option (value() reads its argument)
// and says whether it knew it; --help prints `help` and exits 0.
template <class Handler>
void walk_options(int argc, char** argv, const std::string& help, Handler&& on) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die("missing value for " + a);
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            std::fputs(help.c_str(), stdout);
            std::exit(0);
        }
        if (!on(a, value)) die("unknown option " + a + " (see --help)");
    }
}

// Finds the first "<digits>:<digits>:<digits>" inside data (the gateway wraps the
// payload as {"status":"..."}; nchan and PostgreSQL pass it raw).
struct payload {
    std::uint64_t user = 0;
    std::uint64_t seq = 0;
    std::uint64_t send_ns = 0;
};

inline bool find_payload(std::string_view d, payload& out) {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    const std::size_t n = d.size();
    for (std::size_t i = 0; i < n; ++i) {
        if (!digit(d[i]) || (i > 0 && digit(d[i - 1]))) continue;
        std::uint64_t v[3] = {0, 0, 0};
        std::size_t j = i;
        bool ok = true;
        for (int k = 0; k < 3 && ok; ++k) {
            std::size_t start = j;
            while (j < n && digit(d[j]) && j - start < 19) v[k] = v[k] * 10 + static_cast<std::uint64_t>(d[j++] - '0');
            if (j == start || (j < n && digit(d[j])))
                ok = false;
            else if (k < 2) {
                if (j < n && d[j] == ':')
                    ++j;
                else
                    ok = false;
            }
        }
        if (ok) {
            out = {v[0], v[1], v[2]};
            return true;
        }
    }
    return false;
}

// Log-linear histogram of nanosecond values: exact below 256 ns, then 128
// buckets per power of two (relative error under 0.4%). Mergeable.
class histogram {
public:
    static constexpr std::size_t half = 128;
    static constexpr std::size_t n_buckets = 57 * half + half;

    histogram() : counts_(n_buckets, 0) {}

    static std::size_t index(std::uint64_t v) {
        if (v < 2 * half) return static_cast<std::size_t>(v);
        const int msb = 63 - std::countl_zero(v);
        const int shift = msb - 7;
        return static_cast<std::size_t>(shift) * half + static_cast<std::size_t>(v >> shift);
    }
    // Midpoint of a bucket.
    static std::uint64_t value_of(std::size_t idx) {
        if (idx < 2 * half) return idx;
        const std::size_t shift = idx / half - 1;
        const std::uint64_t m = idx - shift * half;
        return (m << shift) + ((std::uint64_t{1} << shift) >> 1);
    }

    void add(std::uint64_t v) {
        ++counts_[index(v)];
        ++count_;
        sum_ += v;
        min_ = std::min(min_, v);
        max_ = std::max(max_, v);
    }

    void merge(const histogram& o) {
        for (std::size_t i = 0; i < n_buckets; ++i) counts_[i] += o.counts_[i];
        count_ += o.count_;
        sum_ += o.sum_;
        min_ = std::min(min_, o.min_);
        max_ = std::max(max_, o.max_);
    }

    std::uint64_t count() const { return count_; }
    std::uint64_t max() const { return count_ ? max_ : 0; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }

    std::uint64_t percentile(double q) const {
        if (count_ == 0) return 0;
        if (q >= 1.0) return max_;
        auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
        if (rank == 0) rank = 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < n_buckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::clamp(value_of(i), min_, max_);
        }
        return max_;
    }

    // "count sum min max idx:n idx:n ..."
    std::string serialize() const {
        std::string s = std::to_string(count_) + ' ' + std::to_string(sum_) + ' ' + std::to_string(min()) + ' ' +
                        std::to_string(max());
        for (std::size_t i = 0; i < n_buckets; ++i)
            if (counts_[i]) s += ' ' + std::to_string(i) + ':' + std::to_string(counts_[i]);
        return s;
    }
    void deserialize(std::istringstream& in) {
        std::uint64_t mn = 0, mx = 0;
        in >> count_ >> sum_ >> mn >> mx;
        min_ = count_ ? mn : std::numeric_limits<std::uint64_t>::max();
        max_ = mx;
        std::string tok;
        while (in >> tok) {
            auto colon = tok.find(':');
            if (colon == std::string::npos) continue;
            auto idx = parse_u64(std::string_view(tok).substr(0, colon), "histogram");
            if (idx < n_buckets) counts_[idx] += parse_u64(std::string_view(tok).substr(colon + 1), "histogram");
        }
    }

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t max_ = 0;
};

// What one measurement phase saw. An event belongs to the phase whose start is
// the latest one not after the event's send time, so late arrivals still count
// where they were sent.
struct phase_stats {
    std::string name;
    std::uint64_t start_ns = 0;
    std::uint64_t events = 0;      // well-formed events whose user matched
    std::uint64_t lost = 0;        // sequence gaps
    std::uint64_t duplicates = 0;  // seq not above the last one seen
    std::uint64_t misrouted = 0;   // payload user != stream user
    std::uint64_t first_send_ns = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t last_recv_ns = 0;
    histogram latency;

    std::string serialize() const {
        return "phase " + name + ' ' + std::to_string(start_ns) + ' ' + std::to_string(events) + ' ' +
               std::to_string(lost) + ' ' + std::to_string(duplicates) + ' ' + std::to_string(misrouted) + ' ' +
               std::to_string(first_send_ns) + ' ' + std::to_string(last_recv_ns) + ' ' + latency.serialize();
    }
    static phase_stats deserialize(const std::string& line) {
        std::istringstream in(line);
        std::string tag;
        phase_stats p;
        in >> tag >> p.name >> p.start_ns >> p.events >> p.lost >> p.duplicates >> p.misrouted >> p.first_send_ns >>
            p.last_recv_ns;
        p.latency.deserialize(in);
        return p;
    }
    void merge(const phase_stats& o) {
        events += o.events;
        lost += o.lost;
        duplicates += o.duplicates;
        misrouted += o.misrouted;
        first_send_ns = std::min(first_send_ns, o.first_send_ns);
        last_recv_ns = std::max(last_recv_ns, o.last_recv_ns);
        latency.merge(o.latency);
    }
};

// The ordered phases of one run; phase 0 ("setup") starts at 0.
class phase_set {
public:
    phase_set() { begin("setup", 0); }

    void begin(const std::string& name, std::uint64_t start_ns) {
        phases_.emplace_back();
        phases_.back().name = name;
        phases_.back().start_ns = start_ns;
    }
    phase_stats& for_send_time(std::uint64_t send_ns) {
        for (std::size_t i = phases_.size(); i-- > 1;)
            if (phases_[i].start_ns <= send_ns) return phases_[i];
        return phases_[0];
    }
    phase_stats& last() { return phases_.back(); }
    std::vector<phase_stats>& all() { return phases_; }

    // One received, well-formed event for a stream whose last seq was *last_seq.
    void record(const payload& p, std::uint64_t stream_user, std::uint64_t& last_seq, std::uint64_t recv_ns) {
        phase_stats& ph = for_send_time(p.send_ns);
        if (p.user != stream_user) {
            ++ph.misrouted;
            return;
        }
        if (p.seq <= last_seq) {
            ++ph.duplicates;
            return;
        }
        if (p.seq > last_seq + 1) ph.lost += p.seq - last_seq - 1;
        last_seq = p.seq;
        ++ph.events;
        ph.first_send_ns = std::min(ph.first_send_ns, p.send_ns);
        ph.last_recv_ns = std::max(ph.last_recv_ns, recv_ns);
        ph.latency.add(recv_ns > p.send_ns ? recv_ns - p.send_ns : 0);
    }

private:
    std::vector<phase_stats> phases_;
};

// ---- /proc ------------------------------------------------------------------

// Sum over a comma-separated pid list; 0 when unreadable.
inline std::vector<long> parse_pids(const std::string& s) {
    std::vector<long> out;
    std::stringstream in(s);
    std::string tok;
    while (std::getline(in, tok, ','))
        if (!tok.empty()) out.push_back(static_cast<long>(parse_u64(tok, "--server-pid")));
    return out;
}

inline std::uint64_t rss_kb(const std::vector<long>& pids) {
    std::uint64_t total = 0;
    for (long pid : pids) {
        std::ifstream f("/proc/" + std::to_string(pid) + "/status");
        std::string line;
        while (std::getline(f, line))
            if (line.rfind("VmRSS:", 0) == 0) total += std::strtoull(line.c_str() + 6, nullptr, 10);
    }
    return total;
}

// utime + stime from a /proc .../stat file, in seconds; 0 when unreadable.
inline double stat_cpu_seconds(const std::string& path) {
    std::ifstream f(path);
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto rp = s.rfind(')');
    if (rp == std::string::npos) return 0;
    std::istringstream in(s.substr(rp + 2));
    // Fields after the command: state(3) ppid pgrp session tty tpgid flags minflt
    // cminflt majflt cmajflt utime(14) stime(15).
    std::string tok;
    std::uint64_t ut = 0, st = 0;
    for (int field = 3; field <= 15 && in >> tok; ++field) {
        if (field == 14) ut = std::strtoull(tok.c_str(), nullptr, 10);
        if (field == 15) st = std::strtoull(tok.c_str(), nullptr, 10);
    }
    return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// utime + stime of every thread, in seconds.
inline double cpu_seconds(const std::vector<long>& pids) {
    double total = 0;
    for (long pid : pids) total += stat_cpu_seconds("/proc/" + std::to_string(pid) + "/stat");
    return total;
}

// utime + stime of each thread of the processes, by thread id.
inline std::map<long, double> thread_cpu_seconds(const std::vector<long>& pids) {
    std::map<long, double> out;
    for (long pid : pids) {
        const std::string dir = "/proc/" + std::to_string(pid) + "/task";
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
            const std::string tid = e.path().filename().string();
            out[std::strtol(tid.c_str(), nullptr, 10)] = stat_cpu_seconds(dir + "/" + tid + "/stat");
        }
    }
    return out;
}

struct server_sample {
    std::uint64_t at_ns = 0;
    std::uint64_t rss_kb = 0;
    double cpu_s = 0;
    std::map<long, double> thread_cpu_s;  // per thread: which one is the bottleneck
    double backend_cpu_s = 0;             // the PostgreSQL backend feeding the server, if given
};

inline server_sample sample_server(const std::vector<long>& pids, const std::vector<long>& backend_pids = {}) {
    return {now_ns(), rss_kb(pids), cpu_seconds(pids), thread_cpu_seconds(pids), cpu_seconds(backend_pids)};
}

// ---- publisher state: "user seq" per line ------------------------------------

using seq_state = std::unordered_map<std::uint64_t, std::uint64_t>;

inline seq_state read_state(const std::string& path) {
    seq_state st;
    if (path.empty()) return st;
    std::ifstream f(path);
    std::uint64_t u = 0, s = 0;
    while (f >> u >> s) st[u] = s;
    return st;
}

inline void write_state(const std::string& path, const seq_state& st) {
    if (path.empty()) return;
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        for (const auto& [u, s] : st) f << u << ' ' << s << '\n';
        if (!f) die("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) die("cannot rename " + tmp + ": " + std::strerror(errno));
}

// ---- JSON -------------------------------------------------------------------

class json {
public:
    json& num(std::string_view k, double v) {
        key(k);
        char b[64];
        if (std::isfinite(v))
            std::snprintf(b, sizeof b, "%.6g", v);
        else
            std::snprintf(b, sizeof b, "null");
        s_ += b;
        return *this;
    }
    json& num(std::string_view k, std::uint64_t v) {
        key(k);
        s_ += std::to_string(v);
        return *this;
    }
    json& str(std::string_view k, std::string_view v) {
        key(k);
        s_ += '"';
        for (char c : v) {
            if (c == '"' || c == '\\') s_ += '\\';
            if (static_cast<unsigned char>(c) < 0x20) continue;
            s_ += c;
        }
        s_ += '"';
        return *this;
    }
    json& boolean(std::string_view k, bool v) {
        key(k);
        s_ += v ? "true" : "false";
        return *this;
    }
    json& raw(std::string_view k, std::string_view v) {
        key(k);
        s_ += v;
        return *this;
    }
    std::string done() const { return s_ + '}'; }

private:
    void key(std::string_view k) {
        s_ += s_.size() > 1 ? ",\"" : "\"";
        s_ += k;
        s_ += "\":";
    }
    std::string s_ = "{";
};

// The report both receivers print: per phase, latency in microseconds, the
// server's CPU and RSS between this phase's start and the next one's.
inline std::string phases_json(std::vector<phase_stats>& phases, const std::vector<server_sample>& samples,
                               bool have_server) {
    std::string out = "[";
    for (std::size_t i = 1; i < phases.size(); ++i) {
        const phase_stats& p = phases[i];
        const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
        json j;
        j.str("name", p.name)
            .num("events", p.events)
            .num("lost", p.lost)
            .num("duplicates", p.duplicates)
            .num("misrouted", p.misrouted)
            .num("p50_us", us(p.latency.percentile(0.50)))
            .num("p90_us", us(p.latency.percentile(0.90)))
            .num("p99_us", us(p.latency.percentile(0.99)))
            .num("p999_us", us(p.latency.percentile(0.999)))
            .num("max_us", us(p.latency.max()))
            .num("min_us", us(p.latency.min()))
            .num("mean_us", p.latency.mean() / 1000.0);
        if (p.events) {
            const double span = static_cast<double>(p.last_recv_ns - std::min(p.first_send_ns, p.last_recv_ns)) / 1e9;
            j.num("first_send_to_last_recv_s", span)
                .num("events_per_s", span > 0 ? static_cast<double>(p.events) / span : 0.0);
        }
        // samples[i - 1] was taken when phase i began, samples[i] when it ended.
        if (have_server && i < samples.size()) {
            const server_sample& a = samples[i - 1];
            const server_sample& b = samples[i];
            const double cpu = b.cpu_s - a.cpu_s;
            j.num("window_s", static_cast<double>(b.at_ns - a.at_ns) / 1e9)
                .num("server_cpu_s", cpu)
                .num("server_rss_start_kb", a.rss_kb)
                .num("server_rss_end_kb", b.rss_kb);
            if (p.events) j.num("cpu_us_per_event", cpu * 1e6 / static_cast<double>(p.events));
            // A thread busy all the window long is a bottleneck; one well below
            // that was waiting for its input.
            const double window = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
            double busiest = 0;
            for (const auto& [tid, t] : b.thread_cpu_s) {
                auto before = a.thread_cpu_s.find(tid);
                busiest = std::max(busiest, t - (before == a.thread_cpu_s.end() ? 0.0 : before->second));
            }
            if (window > 0) {
                j.num("busiest_thread_busy", busiest / window);
                if (b.backend_cpu_s > 0)
                    j.num("backend_busy", (b.backend_cpu_s - a.backend_cpu_s) / window)
                        .num("backend_cpu_s", b.backend_cpu_s - a.backend_cpu_s);
            }
        }
        out += (i > 1 ? "," : "") + j.done();
    }
    return out + "]";
}

// Buffered line reading from a (possibly non-blocking) fd.
class line_reader {
public:
    explicit line_reader(int fd) : fd_(fd) {}
    // Reads what is available; false on EOF or a hard error.
    bool fill() {
        char b[65536];
        for (;;) {
            ssize_t n = ::read(fd_, b, sizeof b);
            if (n > 0) {
                buf_.append(b, static_cast<std::size_t>(n));
                if (static_cast<std::size_t>(n) < sizeof b) return true;
                continue;
            }
            if (n == 0) return false;
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
    }
    bool next(std::string& line) {
        auto nl = buf_.find('\n');
        if (nl == std::string::npos) return false;
        line.assign(buf_, 0, nl);
        buf_.erase(0, nl + 1);
        return true;
    }
    // Blocks (poll) until a full line arrives or the deadline passes.
    bool next_blocking(std::string& line, int timeout_ms) {
        const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(timeout_ms) * 1'000'000ULL;
        while (!next(line)) {
            const std::uint64_t now = now_ns();
            if (now >= deadline) return false;
            pollfd p{fd_, POLLIN, 0};
            int r = ::poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000ULL) + 1);
            if (r < 0 && errno != EINTR) return false;
            if (r > 0 && !fill() && buf_.find('\n') == std::string::npos) return false;
        }
        return true;
    }
    int fd() const { return fd_; }

private:
    int fd_;
    std::string buf_;
};

inline bool write_all(int fd, std::string_view s) {
    while (!s.empty()) {
        ssize_t n = ::write(fd, s.data(), s.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                pollfd p{fd, POLLOUT, 0};
                ::poll(&p, 1, 1000);
                continue;
            }
            return false;
        }
        s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

inline void reply(const std::string& line) {
    std::string s = line + '\n';
    write_all(STDOUT_FILENO, s);
}

}  // namespace gw::bench
