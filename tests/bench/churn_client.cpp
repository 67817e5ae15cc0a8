// sse-churn: the moving part of the soak (soak.sh). Users arrive at a steady
// rate, each opens one stream, stays a random while and leaves; and a few slow
// readers open streams they read only a trickle of, so the server must close
// them as slow consumers. One process, one thread, one epoll loop; connections
// are bound to loopback source addresses like sse-load's.
//
// Per churn stream it checks the answer (200, else counted by status), that the
// server did not close it before the client left, and that every event's
// "<user>:<seq>:<ns>" payload names the stream's own user (a status that is not
// such a payload, e.g. the snapshot of a user never updated, counts as an event
// only). The gateway's stream is not chunked: the body is the SSE text as is.
//
// Control: commands on stdin, one JSON line back on stdout for each:
//   stats        counters so far
//   pause        stop opening churn streams (open ones still leave on time)
//   resume       open them again at --rate
//   slow N       open N slow-reader streams for --slow-user
//   slow-drain   read the slow streams at full speed until the server's close
//   quit         (or EOF) close everything, print the stats, exit
#include "bench_common.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include <iostream>
#include <queue>
#include <random>

namespace {

using namespace gw::bench;

struct options {
    sse_target target;
    user_range users{1, 1000};
    double rate = 100;
    double hold_min_s = 1;
    double hold_max_s = 10;
    std::size_t max_inflight = 500;
    std::uint64_t slow_user = 0;
    int slow_rcvbuf = 4096;
    std::size_t slow_read_bps = 512;
    std::uint64_t seed = 1;
};

const std::string help = std::string("usage: sse-churn --port P [options]\n") + sse_target::help +
                         R"(                         (default 127.0.0.6-127.0.0.9)
  --users A-B            users that come and go (default 1-1000)
  --rate R               streams opened per second (default 100)
  --hold MIN-MAX         seconds a user stays once live, uniform (default 1-10)
  --max-inflight N       connects waiting for their answer, at most (default 500)
  --slow-user U          the user of the slow readers (for the "slow N" command)
  --slow-rcvbuf BYTES    their socket receive buffer (default 4096)
  --slow-read BYTES      bytes per second each one reads (default 512)
  --seed N               random users and hold times (default 1)
Commands on stdin: stats | pause | resume | slow N | slow-drain | quit
)";

options parse_args(int argc, char** argv) {
    options o;
    o.target.sources = parse_sources("127.0.0.6-127.0.0.9");
    walk_options(argc, argv, help, [&](const std::string& a, auto&& value) {
        if (o.target.parse(a, value))
            return true;
        else if (a == "--users")
            o.users = parse_range(value());
        else if (a == "--rate")
            o.rate = parse_double(value(), "--rate");
        else if (a == "--hold") {
            const std::string v = value();
            const auto dash = v.find('-');
            if (dash == std::string::npos) die("--hold wants MIN-MAX");
            o.hold_min_s = parse_double(v.substr(0, dash), "--hold");
            o.hold_max_s = parse_double(v.substr(dash + 1), "--hold");
        } else if (a == "--max-inflight")
            o.max_inflight = parse_u64(value(), "--max-inflight");
        else if (a == "--slow-user")
            o.slow_user = parse_u64(value(), "--slow-user");
        else if (a == "--slow-rcvbuf")
            o.slow_rcvbuf = static_cast<int>(parse_u64(value(), "--slow-rcvbuf"));
        else if (a == "--slow-read")
            o.slow_read_bps = parse_u64(value(), "--slow-read");
        else if (a == "--seed")
            o.seed = parse_u64(value(), "--seed");
        else
            return false;
        return true;
    });
    if (o.target.port == 0) die("--port is required");
    if (o.rate < 0 || o.hold_min_s < 0 || o.hold_max_s < o.hold_min_s) die("bad --rate or --hold");
    if (o.max_inflight == 0) die("--max-inflight must be positive");
    return o;
}

enum class kind : std::uint8_t { churn, slow };
// connecting -> sending -> headers -> live; a slow stream that is live reads a
// trickle until told to drain.
enum class phase : std::uint8_t { connecting, sending, headers, live };

struct conn {
    int fd = -1;
    kind k = kind::churn;
    phase ph = phase::connecting;
    bool draining = false;
    std::uint32_t sent = 0;
    std::uint32_t events = 0;
    std::uint64_t user = 0;
    std::uint64_t started_ns = 0;
    std::string in;  // the response head, then the current partial line
};

constexpr std::size_t max_line = 1 << 16;
constexpr std::uint64_t tick_ns = 100'000'000;  // slow readers' trickle and the rate's clock

class churner {
public:
    explicit churner(const options& o)
        : o_(o), dst_(o.target.address()), rng_(o.seed), pick_(o.users.first, o.users.last) {}

    int run() {
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) die("epoll_create1 failed");
        fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
        control(STDIN_FILENO, EPOLL_CTL_ADD, EPOLLIN, stdin_tag);
        resume();
        std::vector<epoll_event> evs(1024);
        std::uint64_t next_tick = now_ns() + tick_ns;
        while (!quit_) {
            const std::uint64_t now = now_ns();
            const int wait_ms = next_tick > now ? static_cast<int>((next_tick - now) / 1'000'000) + 1 : 0;
            const int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), std::min(wait_ms, 10));
            if (n < 0 && errno != EINTR) die("epoll_wait failed");
            for (int i = 0; i < n; ++i) {
                if (evs[i].data.u64 == stdin_tag)
                    on_command();
                else
                    on_event(evs[i].data.u64, evs[i].events);
            }
            leave_due();
            open_due();
            if (now_ns() >= next_tick) {
                trickle();
                next_tick += tick_ns;
            }
        }
        reply(stats());
        for (auto& [id, c] : conns_) ::close(c.fd);
        return 0;
    }

private:
    static constexpr std::uint64_t stdin_tag = ~std::uint64_t{0};

    void control(int fd, int op, std::uint32_t events, std::uint64_t tag) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = tag;
        if (epoll_ctl(ep_, op, fd, &ev) != 0 && op == EPOLL_CTL_ADD)
            die(std::string("epoll_ctl: ") + std::strerror(errno));
    }

    void resume() {
        paused_ = false;
        rate_start_ns_ = now_ns();
        opened_since_resume_ = 0;
    }

    // Opens the churn streams due by the rate, unless too many are still waiting
    // for their answer (then the schedule slips rather than bursting later).
    void open_due() {
        if (paused_ || o_.rate <= 0) return;
        const double elapsed = static_cast<double>(now_ns() - rate_start_ns_) / 1e9;
        const auto due = static_cast<std::uint64_t>(elapsed * o_.rate);
        while (opened_since_resume_ < due) {
            if (inflight_ >= o_.max_inflight) {
                ++slipped_;
                opened_since_resume_ = due;
                return;
            }
            ++opened_since_resume_;
            open(kind::churn, pick_(rng_));
        }
    }

    void open(kind k, std::uint64_t user) {
        const std::uint64_t id = next_id_++;
        const char* step = nullptr;
        const int fd = start_connect(o_.target.sources[id % o_.target.sources.size()], dst_, &step,
                                     k == kind::slow ? o_.slow_rcvbuf : 0);
        ++(k == kind::slow ? slow_opened_ : attempts_);
        if (fd < 0) {
            note_error(std::string(step) + ": " + std::strerror(errno));
            ++failed_;
            return;
        }
        conn& c = conns_[id];
        c.fd = fd;
        c.k = k;
        c.user = user;
        c.started_ns = now_ns();
        ++inflight_;
        control(fd, EPOLL_CTL_ADD, EPOLLOUT | EPOLLIN, id);
    }

    void note_error(std::string what) {
        if (first_error_.empty()) first_error_ = std::move(what);
    }

    // Ends a connection. `by_client`: the user left (or the run ends), else the
    // server closed it or something failed.
    void finish(std::uint64_t id, conn& c, bool by_client) {
        if (c.ph != phase::live) {
            --inflight_;
        } else if (c.k == kind::churn) {
            --live_churn_;
            if (by_client) {
                ++left_;
                if (c.events == 0) ++left_without_event_;
            } else {
                ++server_closed_;
            }
        } else {
            --live_slow_;
            if (!by_client) ++slow_closed_by_server_;
        }
        ::close(c.fd);
        conns_.erase(id);
    }

    void fail(std::uint64_t id, conn& c, const std::string& what) {
        if (c.ph != phase::live) {
            ++failed_;
            note_error(what);
        }
        finish(id, c, false);
    }

    void leave_due() {
        const std::uint64_t now = now_ns();
        while (!leaves_.empty() && leaves_.top().first <= now) {
            const std::uint64_t id = leaves_.top().second;
            leaves_.pop();
            if (auto it = conns_.find(id); it != conns_.end()) finish(id, it->second, true);
        }
    }

    void on_event(std::uint64_t id, std::uint32_t events) {
        auto it = conns_.find(id);
        if (it == conns_.end()) return;
        conn& c = it->second;
        if (c.ph == phase::connecting) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) return fail(id, c, std::string("connect: ") + std::strerror(err));
            if (!(events & EPOLLOUT)) return;
            c.ph = phase::sending;
        }
        if (c.ph == phase::sending) return send_request(id, c);
        read_some(id, c, sizeof rbuf_);
    }

    void send_request(std::uint64_t id, conn& c) {
        const std::string req = o_.target.request(c.user);
        while (c.sent < req.size()) {
            const ssize_t n = ::send(c.fd, req.data() + c.sent, req.size() - c.sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN) return;
                return fail(id, c, std::string("send: ") + std::strerror(errno));
            }
            c.sent += static_cast<std::uint32_t>(n);
        }
        c.ph = phase::headers;
        control(c.fd, EPOLL_CTL_MOD, EPOLLIN | EPOLLRDHUP, id);
    }

    // Reads up to `budget` bytes (a live slow reader: its trickle) or until EAGAIN.
    void read_some(std::uint64_t id, conn& c, std::size_t budget) {
        while (budget > 0) {
            const ssize_t n = ::recv(c.fd, rbuf_, std::min(budget, sizeof rbuf_), 0);
            if (n > 0) {
                budget -= static_cast<std::size_t>(n);
                if (!feed(id, c, rbuf_, static_cast<std::size_t>(n))) return;
                if (c.k == kind::slow && c.ph == phase::live && !c.draining) return;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            if (c.ph != phase::live)
                return fail(
                    id, c,
                    n < 0 ? std::string("recv: ") + std::strerror(errno) : std::string("closed before the answer"));
            return finish(id, c, false);
        }
    }

    // False when the connection was closed here.
    bool feed(std::uint64_t id, conn& c, const char* p, std::size_t n) {
        c.in.append(p, n);
        if (c.ph == phase::headers) {
            const auto end = c.in.find("\r\n\r\n");
            if (end == std::string::npos) {
                if (c.in.size() < max_line) return true;
                fail(id, c, "response head too large");
                return false;
            }
            const int status = c.in.size() >= 12 && c.in.compare(0, 5, "HTTP/") == 0 ? std::atoi(c.in.c_str() + 9) : 0;
            if (status != 200) {
                ++refused_[status];
                --inflight_;
                ::close(c.fd);
                conns_.erase(id);
                return false;
            }
            c.in.erase(0, end + 4);
            c.ph = phase::live;
            --inflight_;
            to_live_.add(now_ns() - c.started_ns);
            if (c.k == kind::churn) {
                ++live_churn_;
                ++went_live_;
                const double hold = std::uniform_real_distribution<double>(o_.hold_min_s, o_.hold_max_s)(rng_);
                leaves_.emplace(now_ns() + static_cast<std::uint64_t>(hold * 1e9), id);
            } else {
                ++live_slow_;
                ++slow_live_;
                // From now on the trickle reads it; only the server's close wakes it.
                control(c.fd, EPOLL_CTL_MOD, EPOLLRDHUP, id);
            }
        }
        if (c.k == kind::slow) {
            c.in.clear();  // its content is not checked
            return true;
        }
        std::size_t start = 0;
        for (;;) {
            const auto nl = c.in.find('\n', start);
            if (nl == std::string::npos) break;
            on_line(c, std::string_view(c.in).substr(start, nl - start));
            start = nl + 1;
        }
        c.in.erase(0, start);
        if (c.in.size() > max_line) {
            fail(id, c, "SSE line too long");
            return false;
        }
        return true;
    }

    void on_line(conn& c, std::string_view line) {
        if (line.substr(0, 5) != "data:") return;
        ++c.events;
        ++events_;
        payload p;
        if (find_payload(line, p) && p.user != c.user) ++misrouted_;
    }

    void trickle() {
        const std::size_t budget = std::max<std::size_t>(1, o_.slow_read_bps * tick_ns / 1'000'000'000);
        std::vector<std::uint64_t> ids;
        for (auto& [id, c] : conns_)
            if (c.k == kind::slow && c.ph == phase::live) ids.push_back(id);
        for (auto id : ids)
            if (auto it = conns_.find(id); it != conns_.end())
                read_some(id, it->second, it->second.draining ? sizeof rbuf_ : budget);
    }

    void on_command() {
        if (!cmds_.fill()) quit_ = true;
        std::string line;
        while (cmds_.next(line)) {
            std::istringstream in(line);
            std::string cmd;
            in >> cmd;
            if (cmd == "stats") {
                reply(stats());
            } else if (cmd == "pause") {
                paused_ = true;
                reply(stats());
            } else if (cmd == "resume") {
                resume();
                reply(stats());
            } else if (cmd == "slow") {
                std::uint64_t n = 0;
                in >> n;
                if (o_.slow_user == 0) die("slow: give --slow-user");
                for (std::uint64_t i = 0; i < n; ++i) open(kind::slow, o_.slow_user);
                reply(stats());
            } else if (cmd == "slow-drain") {
                for (auto& [id, c] : conns_)
                    if (c.k == kind::slow && c.ph == phase::live) {
                        c.draining = true;
                        control(c.fd, EPOLL_CTL_MOD, EPOLLIN | EPOLLRDHUP, id);
                    }
                reply(stats());
            } else if (cmd == "quit") {
                quit_ = true;
            } else if (!cmd.empty()) {
                reply(json().str("event", "error").str("message", "unknown command " + cmd).done());
            }
        }
    }

    std::string stats() const {
        std::string refused = "{";
        std::uint64_t refused_total = 0;
        for (const auto& [status, n] : refused_) {
            refused += (refused.size() > 1 ? ",\"" : "\"") + std::to_string(status) + "\":" + std::to_string(n);
            refused_total += n;
        }
        refused += '}';
        const auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
        json j;
        j.str("event", "churn")
            .boolean("paused", paused_)
            .num("attempts", attempts_)
            .num("went_live", went_live_)
            .num("live", live_churn_)
            .num("inflight", static_cast<std::uint64_t>(inflight_))
            .num("left", left_)
            .num("left_without_event", left_without_event_)
            .num("server_closed", server_closed_)
            .num("failed", failed_)
            .num("refused", refused_total)
            .raw("refused_by_status", refused)
            .num("slipped", slipped_)
            .num("events", events_)
            .num("misrouted", misrouted_)
            .num("slow_opened", slow_opened_)
            .num("slow_went_live", slow_live_)
            .num("slow_live", live_slow_)
            .num("slow_closed_by_server", slow_closed_by_server_)
            .num("to_live_p50_ms", ms(to_live_.percentile(0.5)))
            .num("to_live_p99_ms", ms(to_live_.percentile(0.99)))
            .num("to_live_max_ms", ms(to_live_.max()));
        if (!first_error_.empty()) j.str("first_error", first_error_);
        return j.done();
    }

    const options& o_;
    sockaddr_in dst_{};
    int ep_ = -1;
    line_reader cmds_{STDIN_FILENO};
    std::mt19937_64 rng_;
    std::uniform_int_distribution<std::uint64_t> pick_;
    std::unordered_map<std::uint64_t, conn> conns_;
    using leave = std::pair<std::uint64_t, std::uint64_t>;  // (when, connection id)
    std::priority_queue<leave, std::vector<leave>, std::greater<>> leaves_;
    std::uint64_t next_id_ = 0;
    bool paused_ = false;
    bool quit_ = false;
    std::uint64_t rate_start_ns_ = 0;
    std::uint64_t opened_since_resume_ = 0;
    std::size_t inflight_ = 0;
    std::uint64_t attempts_ = 0, went_live_ = 0, live_churn_ = 0, left_ = 0, left_without_event_ = 0;
    std::uint64_t server_closed_ = 0, failed_ = 0, slipped_ = 0, events_ = 0, misrouted_ = 0;
    std::uint64_t slow_opened_ = 0, slow_live_ = 0, live_slow_ = 0, slow_closed_by_server_ = 0;
    std::map<int, std::uint64_t> refused_;
    histogram to_live_;
    std::string first_error_;
    char rbuf_[65536];
};

void raise_nofile() {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    const options o = parse_args(argc, argv);
    raise_nofile();
    churner c(o);
    return c.run();
}
