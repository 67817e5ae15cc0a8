// sse-load: holds many Server-Sent-Events streams open and measures what arrives.
//
// A coordinator process forks W workers; each worker is one thread running one
// epoll loop over non-blocking sockets (each worker stays under the per-process
// open-file limit). Streams are bound to loopback source addresses before
// connecting, so more than ~28k ports per destination are available. With
// --ports the users are split into equal contiguous blocks, one per port (one
// gateway replica each, as a load balancer would spread them), so one run
// measures latency across every replica's streams.
//
// Every event's data must carry "<user>:<seq>:<send_ns>" (see bench_common.hpp);
// per stream the tool checks the user (misrouted), the sequence (lost,
// duplicates) and records CLOCK_MONOTONIC now - send_ns.
//
// Control: once every stream is established (or failed) the coordinator prints a
// JSON "ready" line on stdout, then reads commands on stdin, one JSON line back
// for each:
//   phase NAME            start a measurement phase (samples the server's CPU/RSS)
//   count                 events received so far
//   sync EXPECTED SECS    wait until EXPECTED events arrived in total, or SECS pass
//   sync STATEFILE SECS   wait until every established stream has the last seq
//                         the publisher's state file records for its user
//   report [STATEFILE]    everything so far; STATEFILE also counts events missing
//                         at the end of each established stream as lost
//   quit                  (or EOF) close everything and exit
#include "bench_common.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cctype>
#include <iostream>
#include <memory>

namespace {

using namespace gw::bench;

struct options {
    sse_target target;
    std::vector<sse_target> targets;  // one per --ports entry, else just `target`
    user_range users{1, 100};
    std::uint64_t per_user = 1;
    std::uint64_t streams = 0;  // --streams; 0: users * per_user
    std::size_t workers = 0;
    std::size_t concurrency = 1000;
    double establish_timeout_s = 300;
    std::string server_pids;
    std::string backend_pids;
};

const std::string help = std::string("usage: sse-load --port P [options]\n") + sse_target::help +
                         R"(                         (default 127.0.0.2-127.0.0.5)
  --ports P1,P2,...      several servers (replicas) instead of one --port: the
                         users are split into equal contiguous blocks, block i
                         connects to port i
  --users A-B            user ids (default 1-100)
  --per-user K           streams per user (default 1); streams = users * K
  --streams N            N streams instead, dealt to the users in turn (stream i
                         is user A + i mod the number of users: the first
                         N mod users users get one more), e.g. Turbo rooms
  --workers W            client processes (default: one per 9,500 streams)
  --concurrency C        connects in flight per worker (default 1000)
  --establish-timeout S  give up on streams not up after S seconds (default 300)
  --server-pid PID[,PID] server processes to sample (/proc VmRSS, utime+stime, and
                         per thread: the busiest thread's share of each phase)
  --backend-pid PID      the PostgreSQL backend feeding the server: its CPU share
                         per phase (is the database or the server the bottleneck?)
Commands on stdin after the "ready" line: phase NAME | count | sync N SECS |
report [STATEFILE] | quit
)";

options parse_args(int argc, char** argv) {
    options o;
    std::string ports;
    o.target.sources = parse_sources("127.0.0.2-127.0.0.5");
    walk_options(argc, argv, help, [&](const std::string& a, auto&& value) {
        if (o.target.parse(a, value))
            return true;
        else if (a == "--ports")
            ports = value();
        else if (a == "--users")
            o.users = parse_range(value());
        else if (a == "--per-user")
            o.per_user = parse_u64(value(), "--per-user");
        else if (a == "--streams")
            o.streams = parse_u64(value(), "--streams");
        else if (a == "--workers")
            o.workers = parse_u64(value(), "--workers");
        else if (a == "--concurrency")
            o.concurrency = parse_u64(value(), "--concurrency");
        else if (a == "--establish-timeout")
            o.establish_timeout_s = parse_double(value(), "--establish-timeout");
        else if (a == "--server-pid")
            o.server_pids = value();
        else if (a == "--backend-pid")
            o.backend_pids = value();
        else
            return false;
        return true;
    });
    if (!ports.empty()) {
        if (o.target.port != 0) die("give --port or --ports, not both");
        std::stringstream in(ports);
        std::string tok;
        while (std::getline(in, tok, ',')) {
            o.targets.push_back(o.target);
            o.targets.back().port = static_cast<std::uint16_t>(parse_u64(tok, "--ports"));
        }
        if (o.targets.empty()) die("--ports: no port");
    } else {
        if (o.target.port == 0) die("--port is required");
        o.targets.push_back(o.target);
    }
    if (o.users.first == 0) die("--users: user 0 is reserved for broadcast events");
    if (o.per_user == 0 || o.concurrency == 0) die("--per-user and --concurrency must be positive");
    if (o.targets.size() > o.users.size()) die("--ports: more ports than users");
    return o;
}

// ---- one stream -------------------------------------------------------------

enum class st : std::uint8_t { idle, connecting, sending, headers, body, closed };
enum class chunk : std::uint8_t { size, ext, size_lf, data, data_cr, data_lf, done };

struct stream {
    int fd = -1;
    st state = st::idle;
    bool chunked = false;
    bool last_cr = false;
    bool has_data = false;
    bool was_up = false;  // got its response headers at some point
    chunk cs = chunk::size;
    std::uint32_t req_sent = 0;
    std::uint64_t user = 0;
    std::uint64_t chunk_left = 0;
    std::uint64_t last_seq = 0;
    std::uint64_t last_broadcast_seq = 0;  // events for user 0 (everyone)
    std::string line;                      // response headers, then the current SSE line
    std::string data;                      // the current event's data
};

constexpr std::size_t max_line = 1 << 16;
constexpr std::uint64_t broadcast_user = 0;

class worker {
public:
    worker(const options& o, std::size_t first, std::size_t count, int cmd_fd, int out_fd)
        : o_(o), cmd_(cmd_fd), out_fd_(out_fd), first_(first), streams_(count) {
        const std::uint64_t users = o.users.size();
        for (std::size_t i = 0; i < count; ++i) streams_[i].user = o.users.first + (first + i) % users;
        for (const auto& t : o.targets) dsts_.push_back(t.address());
    }

    int run() {
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) die("epoll_create1 failed");
        fcntl(cmd_, F_SETFL, fcntl(cmd_, F_GETFL) | O_NONBLOCK);
        add(cmd_, EPOLLIN, cmd_tag);
        deadline_ = now_ns() + static_cast<std::uint64_t>(o_.establish_timeout_s * 1e9);
        start_connects();
        std::vector<epoll_event> evs(1024);
        while (!quit_) {
            int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), announced_ ? -1 : 100);
            if (n < 0) {
                if (errno == EINTR) continue;
                die("epoll_wait failed");
            }
            for (int i = 0; i < n; ++i) {
                const std::uint64_t tag = evs[i].data.u64;
                if (tag == cmd_tag)
                    on_command();
                else
                    on_stream(static_cast<std::size_t>(tag), evs[i].events);
            }
            if (!announced_) {
                if (now_ns() > deadline_) give_up();
                start_connects();
                maybe_announce();
            }
        }
        for (auto& s : streams_)
            if (s.fd >= 0) ::close(s.fd);
        return 0;
    }

private:
    static constexpr std::uint64_t cmd_tag = ~std::uint64_t{0};

    // Which of the --ports serves this user: its block of the user range.
    std::size_t target_of(std::uint64_t user) const {
        return static_cast<std::size_t>((user - o_.users.first) * o_.targets.size() / o_.users.size());
    }

    void add(int fd, std::uint32_t events, std::uint64_t tag) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = tag;
        if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) die(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    void modify(int fd, std::uint32_t events, std::uint64_t tag) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = tag;
        epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev);
    }

    void start_connects() {
        while (inflight_ < o_.concurrency && next_ < streams_.size() && now_ns() <= deadline_) {
            const std::size_t i = next_++;
            stream& s = streams_[i];
            const char* step = nullptr;
            s.fd = start_connect(o_.target.sources[(first_ + i) % o_.target.sources.size()], dsts_[target_of(s.user)],
                                 &step);
            if (s.fd < 0) {
                fail(s, step);
                continue;
            }
            s.state = st::connecting;
            ++inflight_;
            add(s.fd, EPOLLOUT | EPOLLIN, i);
        }
    }

    void fail(stream& s, const char* what) {
        if (first_error_.empty()) first_error_ = std::string(what) + ": " + std::strerror(errno);
        close_stream(s);
    }

    // Closes a stream; counted as failed before its headers, dropped after.
    void close_stream(stream& s) {
        if (s.state == st::closed) return;
        if (s.state == st::body)
            ++dropped_;
        else {
            ++failed_;
            if (s.state != st::idle) --inflight_;
        }
        if (s.fd >= 0) ::close(s.fd);
        s.fd = -1;
        s.state = st::closed;
        std::string().swap(s.line);
        std::string().swap(s.data);
    }

    void give_up() {
        if (first_error_.empty()) first_error_ = "establish timeout";
        for (auto& s : streams_)
            if (s.state != st::body && s.state != st::closed) close_stream(s);
        next_ = streams_.size();
    }

    void maybe_announce() {
        if (announced_ || established_ + failed_ < streams_.size()) return;
        announced_ = true;
        std::string msg = "established " + std::to_string(now_ns()) + ' ' + std::to_string(established_) + ' ' +
                          std::to_string(failed_) + ' ' + (first_error_.empty() ? "-" : first_error_) + '\n';
        write_all(out_fd_, msg);
    }

    void send_request(std::size_t i, stream& s) {
        const std::string req = o_.targets[target_of(s.user)].request(s.user);
        while (s.req_sent < req.size()) {
            ssize_t n = ::send(s.fd, req.data() + s.req_sent, req.size() - s.req_sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN) return;  // EPOLLOUT stays armed
                fail(s, "send");
                return;
            }
            s.req_sent += static_cast<std::uint32_t>(n);
        }
        s.state = st::headers;
        modify(s.fd, EPOLLIN | EPOLLRDHUP, i);
    }

    void on_stream(std::size_t i, std::uint32_t events) {
        stream& s = streams_[i];
        if (s.state == st::closed) return;
        if (s.state == st::connecting) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                errno = err;
                fail(s, "connect");
                return;
            }
            if (!(events & EPOLLOUT)) return;
            s.state = st::sending;
        }
        if (s.state == st::sending) {
            send_request(i, s);
            return;
        }
        for (;;) {
            ssize_t n = ::recv(s.fd, rbuf_, sizeof rbuf_, 0);
            if (n > 0) {
                const std::uint64_t now = now_ns();
                if (!feed(s, rbuf_, static_cast<std::size_t>(n), now)) {
                    if (first_error_.empty()) first_error_ = "protocol error";
                    close_stream(s);
                    return;
                }
                if (static_cast<std::size_t>(n) < sizeof rbuf_) return;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            if (n < 0)
                fail(s, "recv");
            else {
                if (s.state != st::body && first_error_.empty()) first_error_ = "closed before headers";
                close_stream(s);
            }
            return;
        }
    }

    bool feed(stream& s, const char* p, std::size_t n, std::uint64_t now) {
        if (s.state == st::headers) {
            const std::size_t old = s.line.size();
            s.line.append(p, n);
            auto end = s.line.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
            if (end == std::string::npos) return s.line.size() < max_line;
            if (!parse_headers(s, std::string_view(s.line).substr(0, end))) return false;
            std::string rest = s.line.substr(end + 4);
            s.line.clear();
            s.state = st::body;
            s.was_up = true;
            --inflight_;
            ++established_;
            return rest.empty() || feed_body(s, rest.data(), rest.size(), now);
        }
        return feed_body(s, p, n, now);
    }

    bool parse_headers(stream& s, std::string_view h) {
        if (h.size() < 12 || h.substr(0, 5) != "HTTP/" || h.substr(9, 3) != "200") {
            if (first_error_.empty()) first_error_ = "status: " + std::string(h.substr(0, h.find('\r')));
            return false;
        }
        std::string lower(h);
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto te = lower.find("\r\ntransfer-encoding:");
        s.chunked = te != std::string::npos && lower.find("chunked", te) < lower.find("\r\n", te + 2);
        return true;
    }

    bool feed_body(stream& s, const char* p, std::size_t n, std::uint64_t now) {
        if (!s.chunked) return feed_sse(s, p, n, now);
        std::size_t i = 0;
        while (i < n) {
            const char c = p[i];
            switch (s.cs) {
                case chunk::size:
                    ++i;
                    if (std::isxdigit(static_cast<unsigned char>(c))) {
                        s.chunk_left = s.chunk_left * 16 +
                                       static_cast<std::uint64_t>(c <= '9' ? c - '0' : (std::tolower(c) - 'a' + 10));
                        if (s.chunk_left > (std::uint64_t{1} << 32)) return false;
                    } else if (c == ';' || c == ' ')
                        s.cs = chunk::ext;
                    else if (c == '\r')
                        s.cs = chunk::size_lf;
                    else if (c == '\n')
                        end_of_size(s);
                    else
                        return false;
                    break;
                case chunk::ext:
                    ++i;
                    if (c == '\n') end_of_size(s);
                    break;
                case chunk::size_lf:
                    ++i;
                    if (c != '\n') return false;
                    end_of_size(s);
                    break;
                case chunk::data: {
                    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(s.chunk_left, n - i));
                    if (!feed_sse(s, p + i, take, now)) return false;
                    i += take;
                    s.chunk_left -= take;
                    if (s.chunk_left == 0) s.cs = chunk::data_cr;
                    break;
                }
                case chunk::data_cr:
                    ++i;
                    if (c == '\r')
                        s.cs = chunk::data_lf;
                    else if (c == '\n')
                        s.cs = chunk::size;
                    else
                        return false;
                    break;
                case chunk::data_lf:
                    ++i;
                    if (c != '\n') return false;
                    s.cs = chunk::size;
                    break;
                case chunk::done:
                    return true;  // trailers after the last chunk: ignored
            }
        }
        return true;
    }

    static void end_of_size(stream& s) { s.cs = s.chunk_left == 0 ? chunk::done : chunk::data; }

    // Lines end in CRLF, LF or CR (a CR at the end of one read may pair with an
    // LF at the start of the next).
    bool feed_sse(stream& s, const char* p, std::size_t n, std::uint64_t now) {
        std::size_t i = 0;
        if (s.last_cr && n > 0) {
            if (p[0] == '\n') i = 1;
            s.last_cr = false;
        }
        while (i < n) {
            std::size_t j = i;
            while (j < n && p[j] != '\n' && p[j] != '\r') ++j;
            s.line.append(p + i, j - i);
            if (s.line.size() > max_line) return false;
            if (j == n) break;
            const bool cr = p[j] == '\r';
            ++j;
            if (cr) {
                if (j < n) {
                    if (p[j] == '\n') ++j;
                } else {
                    s.last_cr = true;
                }
            }
            on_line(s, now);
            s.line.clear();
            i = j;
        }
        return true;
    }

    void on_line(stream& s, std::uint64_t now) {
        const std::string_view l = s.line;
        if (l.empty()) {
            if (s.has_data) dispatch(s, now);
            s.data.clear();
            s.has_data = false;
            return;
        }
        if (l[0] == ':') {
            ++comments_;
            return;
        }
        const auto colon = l.find(':');
        const std::string_view name = l.substr(0, colon);
        std::string_view value = colon == std::string_view::npos ? std::string_view{} : l.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        if (name == "data") {
            if (s.has_data) s.data += '\n';
            s.data.append(value);
            s.has_data = true;
        }
        // event, id and retry carry nothing the measurement needs.
    }

    void dispatch(stream& s, std::uint64_t now) {
        ++received_;
        payload p;
        if (!find_payload(s.data, p)) {
            ++malformed_;
            return;
        }
        if (p.user == broadcast_user)
            phases_.record(p, broadcast_user, s.last_broadcast_seq, now);
        else
            phases_.record(p, s.user, s.last_seq, now);
    }

    void on_command() {
        if (!cmds_.fill()) {
            quit_ = true;
            return;
        }
        std::string line;
        while (cmds_.next(line)) {
            std::istringstream in(line);
            std::string cmd;
            in >> cmd;
            if (cmd == "phase") {
                std::string name;
                std::uint64_t start = 0;
                in >> name >> start;
                phases_.begin(name, start);
            } else if (cmd == "count") {
                write_all(out_fd_, "count " + std::to_string(received_) + '\n');
            } else if (cmd == "state") {
                std::string file;
                in >> file;
                state_ = read_state(file);
            } else if (cmd == "missing") {
                write_all(out_fd_, "missing " + std::to_string(missing(state_)) + '\n');
            } else if (cmd == "report") {
                std::string state_file;
                in >> state_file;
                report(state_file);
            } else if (cmd == "quit") {
                quit_ = true;
            }
        }
    }

    // Events published for the users of established streams and not (yet) seen.
    std::uint64_t missing(const seq_state& st) const {
        std::uint64_t n = 0;
        const auto bcast = st.find(broadcast_user);
        for (const auto& s : streams_) {
            if (!s.was_up) continue;
            auto it = st.find(s.user);
            if (it != st.end() && it->second > s.last_seq) n += it->second - s.last_seq;
            if (bcast != st.end() && bcast->second > s.last_broadcast_seq) n += bcast->second - s.last_broadcast_seq;
        }
        return n;
    }

    void report(const std::string& state_file) {
        const std::uint64_t tail_lost = state_file.empty() ? 0 : missing(read_state(state_file));
        std::string out = "streams " + std::to_string(established_) + ' ' + std::to_string(failed_) + ' ' +
                          std::to_string(dropped_) + ' ' + std::to_string(tail_lost) + ' ' + std::to_string(comments_) +
                          ' ' + std::to_string(malformed_) + ' ' + std::to_string(received_) + '\n';
        for (auto& p : phases_.all()) out += p.serialize() + '\n';
        out += "end\n";
        write_all(out_fd_, out);
    }

    const options& o_;
    int cmd_;
    int out_fd_;
    std::size_t first_;
    std::vector<stream> streams_;
    std::vector<sockaddr_in> dsts_;  // per o_.targets entry
    int ep_ = -1;
    line_reader cmds_{cmd_};
    std::size_t next_ = 0;
    std::size_t inflight_ = 0;
    std::size_t established_ = 0;
    std::size_t failed_ = 0;
    std::size_t dropped_ = 0;
    std::uint64_t received_ = 0;
    std::uint64_t malformed_ = 0;
    std::uint64_t comments_ = 0;
    std::uint64_t deadline_ = 0;
    bool announced_ = false;
    bool quit_ = false;
    std::string first_error_;
    seq_state state_;
    phase_set phases_;
    char rbuf_[65536];
};

// ---- coordinator ------------------------------------------------------------

struct child {
    pid_t pid = -1;
    int cmd_w = -1;  // coordinator -> worker
    std::unique_ptr<line_reader> out;
};

void raise_nofile(std::size_t need) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
        die("a worker needs " + std::to_string(need) + " fds but the limit is " + std::to_string(rl.rlim_cur) +
            ": use more --workers");
}

int coordinate(const options& o) {
    const std::size_t total = static_cast<std::size_t>(o.streams ? o.streams : o.users.size() * o.per_user);
    std::size_t w = o.workers ? o.workers : std::max<std::size_t>(1, (total + 9499) / 9500);
    w = std::min(w, std::max<std::size_t>(total, 1));
    if ((total + w - 1) / w > 19000) die("more than 19,000 streams per worker: use more --workers");
    raise_nofile((total + w - 1) / w + 32);

    const auto pids = parse_pids(o.server_pids);
    const auto backend = parse_pids(o.backend_pids);
    const bool have_server = !pids.empty();
    std::vector<server_sample> samples;
    const server_sample before = sample_server(pids, backend);

    const std::uint64_t t0 = now_ns();
    std::vector<child> kids(w);
    for (std::size_t k = 0; k < w; ++k) {
        int to_child[2], from_child[2];
        if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) die("pipe failed");
        const std::size_t first = total * k / w, last = total * (k + 1) / w;
        pid_t pid = fork();
        if (pid < 0) die("fork failed");
        if (pid == 0) {
            for (std::size_t j = 0; j < k; ++j) ::close(kids[j].cmd_w), ::close(kids[j].out->fd());
            ::close(to_child[1]);
            ::close(from_child[0]);
            ::close(STDIN_FILENO);
            worker wk(o, first, last - first, to_child[0], from_child[1]);
            std::_Exit(wk.run());
        }
        ::close(to_child[0]);
        ::close(from_child[1]);
        kids[k].pid = pid;
        kids[k].cmd_w = to_child[1];
        kids[k].out = std::make_unique<line_reader>(from_child[0]);
    }

    std::uint64_t last_up = t0, established = 0, failed = 0;
    std::string first_error;
    const int wait_ms = static_cast<int>(o.establish_timeout_s * 1000) + 30000;
    for (auto& kid : kids) {
        std::string line;
        if (!kid.out->next_blocking(line, wait_ms)) die("sse-load: a worker died or hung while connecting");
        std::istringstream in(line);
        std::string tag, err;
        std::uint64_t at = 0, up = 0, bad = 0;
        in >> tag >> at >> up >> bad;
        std::getline(in, err);
        if (!err.empty() && err[0] == ' ') err.erase(0, 1);
        last_up = std::max(last_up, at);
        established += up;
        failed += bad;
        if (first_error.empty() && err != "-") first_error = err;
    }
    const server_sample ready = sample_server(pids, backend);
    {
        json j;
        j.str("event", "ready")
            .num("streams", static_cast<std::uint64_t>(total))
            .num("established", established)
            .num("failed", failed)
            .num("workers", static_cast<std::uint64_t>(w))
            .num("establish_s", static_cast<double>(last_up - t0) / 1e9);
        if (!first_error.empty()) j.str("first_error", first_error);
        if (have_server) j.num("server_rss_before_kb", before.rss_kb).num("server_rss_ready_kb", ready.rss_kb);
        reply(j.done());
    }

    auto broadcast = [&](const std::string& msg) {
        for (auto& kid : kids) write_all(kid.cmd_w, msg);
    };
    // Sends `what` to every worker and sums the numbers in their one-line answers.
    auto ask_sum = [&](const std::string& what) {
        broadcast(what + '\n');
        std::uint64_t sum = 0;
        for (auto& kid : kids) {
            std::string line;
            if (!kid.out->next_blocking(line, 10000)) die("sse-load: a worker stopped answering");
            sum += parse_u64(std::string_view(line).substr(line.find(' ') + 1), what.c_str());
        }
        return sum;
    };
    auto total_count = [&]() { return ask_sum("count"); };

    std::vector<std::string> phase_names;
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string cmd;
        in >> cmd;
        if (cmd.empty()) continue;
        if (cmd == "phase") {
            std::string name;
            in >> name;
            if (name.empty()) name = "phase" + std::to_string(phase_names.size() + 1);
            samples.push_back(sample_server(pids, backend));
            const std::uint64_t start = samples.back().at_ns;
            broadcast("phase " + name + ' ' + std::to_string(start) + '\n');
            phase_names.push_back(name);
            reply(json().str("event", "phase").str("name", name).num("start_ns", start).done());
        } else if (cmd == "count") {
            reply(json().str("event", "count").num("received", total_count()).done());
        } else if (cmd == "sync") {
            std::string target;
            double secs = 30;
            in >> target >> secs;
            const std::uint64_t start = now_ns();
            const std::uint64_t deadline = start + static_cast<std::uint64_t>(secs * 1e9);
            json j;
            j.str("event", "sync");
            bool ok = false;
            if (!target.empty() && std::isdigit(static_cast<unsigned char>(target[0]))) {
                const std::uint64_t expected = parse_u64(target, "sync");
                std::uint64_t got = total_count();
                while (got < expected && now_ns() < deadline) {
                    ::usleep(20000);
                    got = total_count();
                }
                ok = got >= expected;
                j.num("received", got).num("expected", expected);
            } else {
                broadcast("state " + target + '\n');
                std::uint64_t missing = ask_sum("missing");
                while (missing > 0 && now_ns() < deadline) {
                    ::usleep(20000);
                    missing = ask_sum("missing");
                }
                ok = missing == 0;
                j.num("missing", missing).num("received", total_count());
            }
            reply(j.boolean("ok", ok).num("waited_s", static_cast<double>(now_ns() - start) / 1e9).done());
        } else if (cmd == "report") {
            std::string state_file;
            in >> state_file;
            broadcast("report " + state_file + '\n');
            std::uint64_t up = 0, bad = 0, dropped = 0, tail = 0, comments = 0, malformed = 0, received = 0;
            std::vector<phase_stats> merged;
            for (auto& kid : kids) {
                std::size_t idx = 0;
                for (;;) {
                    std::string l;
                    if (!kid.out->next_blocking(l, 60000)) die("sse-load: a worker stopped answering");
                    if (l == "end") break;
                    if (l.rfind("streams ", 0) == 0) {
                        std::istringstream s(l.substr(8));
                        std::uint64_t v[7] = {};
                        for (auto& x : v) s >> x;
                        up += v[0], bad += v[1], dropped += v[2], tail += v[3], comments += v[4];
                        malformed += v[5], received += v[6];
                    } else if (l.rfind("phase ", 0) == 0) {
                        phase_stats p = phase_stats::deserialize(l);
                        if (idx < merged.size())
                            merged[idx].merge(p);
                        else
                            merged.push_back(std::move(p));
                        ++idx;
                    }
                }
            }
            // One sample per phase start plus this one closing the last phase.
            std::vector<server_sample> all = samples;
            all.push_back(sample_server(pids, backend));
            std::uint64_t lost = tail, dup = 0, mis = 0, events = 0;
            for (const auto& p : merged) lost += p.lost, dup += p.duplicates, mis += p.misrouted, events += p.events;
            json j;
            j.str("event", "report")
                .num("streams", static_cast<std::uint64_t>(total))
                .num("established", up)
                .num("failed", bad)
                .num("dropped", dropped)
                .num("establish_s", static_cast<double>(last_up - t0) / 1e9)
                .num("received", received)
                .num("events", events)
                .num("lost", lost)
                .num("lost_at_end", tail)
                .num("duplicates", dup)
                .num("misrouted", mis)
                .num("malformed", malformed)
                .num("comments", comments);
            if (have_server)
                j.num("server_rss_before_kb", before.rss_kb)
                    .num("server_rss_ready_kb", ready.rss_kb)
                    .num("server_rss_now_kb", all.back().rss_kb);
            j.raw("phases", phases_json(merged, all, have_server));
            reply(j.done());
        } else if (cmd == "quit") {
            break;
        } else {
            reply(json().str("event", "error").str("message", "unknown command " + cmd).done());
        }
    }
    broadcast("quit\n");
    int status = 0;
    for (auto& kid : kids) {
        ::close(kid.cmd_w);
        int ws = 0;
        waitpid(kid.pid, &ws, 0);
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) status = 1;
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    const options o = parse_args(argc, argv);
    return coordinate(o);
}
