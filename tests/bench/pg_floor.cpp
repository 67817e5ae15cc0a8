// sse-pg-floor: the PostgreSQL floor the gateway is compared with. One libpq
// connection LISTENs on one channel per user (timed: that is its "establish"),
// then receives the publisher's notifications directly and measures them the
// way sse-load measures SSE events: same payload, same phases, same report.
// The "server" sampled for CPU and RSS is the listening backend.
// With --shared-channel it LISTENs on that one channel instead and takes the
// user from the payload (the gateway's shared channel mode).
//
// Commands on stdin after the "ready" line, as for sse-load:
//   phase NAME | count | sync EXPECTED|STATEFILE SECS | report [STATEFILE] | quit
#include "bench_common.hpp"

#include <libpq-fe.h>

#include <fcntl.h>
#include <signal.h>

#include <cctype>
#include <iostream>

namespace {

using namespace gw::bench;

struct options {
    std::string database_url;
    std::string channel_template = "user_{user}";
    user_range users{1, 100};
    std::size_t batch = 1000;
    std::string shared_channel;
};

void usage() {
    std::cout << R"(usage: sse-pg-floor --database-url URL [options]
  --users A-B              one channel per user (default 1-100)
  --channel-template T     (default user_{user})
  --batch N                LISTEN statements per round trip (default 1000)
  --shared-channel NAME    LISTEN on NAME only; the user comes from the payload
Commands on stdin after the "ready" line: phase NAME | count | sync N SECS |
report [STATEFILE] | quit
)";
}

options parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) die("missing value for " + a);
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            usage();
            std::exit(0);
        } else if (a == "--database-url")
            o.database_url = val();
        else if (a == "--channel-template")
            o.channel_template = val();
        else if (a == "--users")
            o.users = parse_range(val());
        else if (a == "--shared-channel")
            o.shared_channel = val();
        else if (a == "--batch")
            o.batch = parse_u64(val(), "--batch");
        else
            die("unknown option " + a + " (see --help)");
    }
    if (o.database_url.empty()) die("--database-url is required");
    if (o.batch == 0) die("--batch must be positive");
    return o;
}

class floor_listener {
public:
    explicit floor_listener(const options& o) : o_(o), last_seq_(o.users.size(), 0) {
        const auto brace = o.channel_template.find("{user}");
        if (brace == std::string::npos) die("--channel-template needs {user}");
        prefix_ = o.channel_template.substr(0, brace);
        suffix_ = o.channel_template.substr(brace + 6);
    }
    ~floor_listener() { PQfinish(conn_); }

    int run() {
        conn_ = PQconnectdb(o_.database_url.c_str());
        if (PQstatus(conn_) != CONNECTION_OK) die(std::string("connect: ") + PQerrorMessage(conn_));
        pids_ = {static_cast<long>(PQbackendPID(conn_))};
        const server_sample before = sample_server(pids_, pids_);

        const std::uint64_t t0 = now_ns();
        std::string sql;
        std::size_t in_batch = 0;
        const bool shared = !o_.shared_channel.empty();
        const std::uint64_t last = shared ? o_.users.first : o_.users.last;
        for (std::uint64_t u = o_.users.first; u <= last; ++u) {
            const std::string ch = shared ? o_.shared_channel : expand_user(o_.channel_template, u);
            char* quoted = PQescapeIdentifier(conn_, ch.c_str(), ch.size());
            if (!quoted) die(std::string("escape: ") + PQerrorMessage(conn_));
            sql += "LISTEN ";
            sql += quoted;
            sql += ';';
            PQfreemem(quoted);
            if (++in_batch == o_.batch || u == last) {
                exec(sql);
                sql.clear();
                in_batch = 0;
            }
        }
        const std::uint64_t t1 = now_ns();
        establish_s_ = static_cast<double>(t1 - t0) / 1e9;
        const server_sample ready = sample_server(pids_, pids_);
        rss_before_ = before.rss_kb;
        rss_ready_ = ready.rss_kb;
        reply(json()
                  .str("event", "ready")
                  .num("streams", o_.users.size())
                  .num("established", o_.users.size())
                  .num("failed", std::uint64_t{0})
                  .num("establish_s", establish_s_)
                  .num("backend_pid", static_cast<std::uint64_t>(pids_[0]))
                  .num("server_rss_before_kb", before.rss_kb)
                  .num("server_rss_ready_kb", ready.rss_kb)
                  .done());

        if (PQsetnonblocking(conn_, 1) != 0) die("PQsetnonblocking failed");
        line_reader cmds(STDIN_FILENO);
        fcntl_nonblock(STDIN_FILENO);
        bool stdin_open = true;
        while (!quit_) {
            pollfd p[2] = {{stdin_open ? STDIN_FILENO : -1, POLLIN, 0}, {PQsocket(conn_), POLLIN, 0}};
            const int timeout = sync_pending_ ? 10 : -1;
            if (::poll(p, 2, timeout) < 0 && errno != EINTR) die("poll failed");
            if (p[1].revents) receive();
            if (p[0].revents && !cmds.fill()) stdin_open = false;
            check_sync();
            // Commands run in order: nothing after a sync until the sync has answered.
            std::string line;
            while (!sync_pending_ && !quit_ && cmds.next(line)) {
                command(line);
                check_sync();
            }
            if (!stdin_open && !sync_pending_ && !cmds.next(line)) quit_ = true;
        }
        return 0;
    }

private:
    static void fcntl_nonblock(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

    void exec(const std::string& sql) {
        PGresult* r = PQexec(conn_, sql.c_str());
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die(std::string("LISTEN: ") + PQerrorMessage(conn_));
        PQclear(r);
    }

    void receive() {
        if (PQconsumeInput(conn_) != 1) die(std::string("connection lost: ") + PQerrorMessage(conn_));
        const std::uint64_t now = now_ns();
        while (PGnotify* n = PQnotifies(conn_)) {
            ++received_;
            std::string_view ch = n->relname;
            std::uint64_t user = 0;
            payload pl;
            const bool parsed = find_payload(n->extra, pl);
            bool ok = ch.size() > prefix_.size() + suffix_.size() && ch.substr(0, prefix_.size()) == prefix_ &&
                      ch.substr(ch.size() - suffix_.size()) == suffix_;
            if (!o_.shared_channel.empty()) {
                user = pl.user;  // one channel: the payload names the user
                ok = parsed && ch == o_.shared_channel && user >= o_.users.first && user <= o_.users.last;
            } else if (ok) {
                const auto digits = ch.substr(prefix_.size(), ch.size() - prefix_.size() - suffix_.size());
                auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), user);
                ok = ec == std::errc{} && p == digits.data() + digits.size() && user >= o_.users.first &&
                     user <= o_.users.last;
            }
            if (ok && parsed)
                phases_.record(pl, user, last_seq_[user - o_.users.first], now);
            else
                ++malformed_;
            PQfreemem(n);
        }
    }

    void command(const std::string& line) {
        std::istringstream in(line);
        std::string cmd;
        in >> cmd;
        if (cmd.empty()) return;
        if (cmd == "phase") {
            std::string name;
            in >> name;
            samples_.push_back(sample_server(pids_, pids_));
            phases_.begin(name, samples_.back().at_ns);
            reply(json().str("event", "phase").str("name", name).num("start_ns", samples_.back().at_ns).done());
        } else if (cmd == "count") {
            reply(json().str("event", "count").num("received", received_).done());
        } else if (cmd == "sync") {
            std::string target;
            in >> target >> sync_secs_;
            sync_by_state_ = !target.empty() && !std::isdigit(static_cast<unsigned char>(target[0]));
            if (sync_by_state_)
                state_ = read_state(target);
            else
                sync_expected_ = parse_u64(target, "sync");
            sync_start_ = now_ns();
            sync_pending_ = true;
        } else if (cmd == "report") {
            std::string state_file;
            in >> state_file;
            report(state_file);
        } else if (cmd == "quit") {
            quit_ = true;
        } else {
            reply(json().str("event", "error").str("message", "unknown command " + cmd).done());
        }
    }

    void check_sync() {
        if (!sync_pending_) return;
        const std::uint64_t now = now_ns();
        const std::uint64_t miss = sync_by_state_ ? missing(state_) : 0;
        const bool ok = sync_by_state_ ? miss == 0 : received_ >= sync_expected_;
        if (!ok && now < sync_start_ + static_cast<std::uint64_t>(sync_secs_ * 1e9)) return;
        sync_pending_ = false;
        json j;
        j.str("event", "sync").num("received", received_);
        if (sync_by_state_)
            j.num("missing", miss);
        else
            j.num("expected", sync_expected_);
        reply(j.boolean("ok", ok).num("waited_s", static_cast<double>(now - sync_start_) / 1e9).done());
    }

    // Notifications published on our channels and not (yet) received.
    std::uint64_t missing(const seq_state& st) const {
        std::uint64_t n = 0;
        for (std::uint64_t i = 0; i < last_seq_.size(); ++i) {
            auto it = st.find(o_.users.first + i);
            if (it != st.end() && it->second > last_seq_[i]) n += it->second - last_seq_[i];
        }
        return n;
    }

    void report(const std::string& state_file) {
        const std::uint64_t tail = state_file.empty() ? 0 : missing(read_state(state_file));
        std::vector<server_sample> all = samples_;
        all.push_back(sample_server(pids_, pids_));
        std::uint64_t lost = tail, dup = 0, mis = 0, events = 0;
        for (const auto& p : phases_.all()) lost += p.lost, dup += p.duplicates, mis += p.misrouted, events += p.events;
        json j;
        j.str("event", "report")
            .num("streams", o_.users.size())
            .num("established", o_.users.size())
            .num("failed", std::uint64_t{0})
            .num("dropped", std::uint64_t{0})
            .num("establish_s", establish_s_)
            .num("received", received_)
            .num("events", events)
            .num("lost", lost)
            .num("lost_at_end", tail)
            .num("duplicates", dup)
            .num("misrouted", mis)
            .num("malformed", malformed_)
            .num("server_rss_before_kb", rss_before_)
            .num("server_rss_ready_kb", rss_ready_)
            .num("server_rss_now_kb", all.back().rss_kb)
            .raw("phases", phases_json(phases_.all(), all, true));
        reply(j.done());
    }

    const options& o_;
    PGconn* conn_ = nullptr;
    std::vector<long> pids_;
    std::string prefix_, suffix_;
    std::vector<std::uint64_t> last_seq_;
    phase_set phases_;
    std::vector<server_sample> samples_;
    std::uint64_t received_ = 0;
    std::uint64_t malformed_ = 0;
    std::uint64_t rss_before_ = 0;
    std::uint64_t rss_ready_ = 0;
    double establish_s_ = 0;
    bool quit_ = false;
    bool sync_pending_ = false;
    bool sync_by_state_ = false;
    seq_state state_;
    std::uint64_t sync_expected_ = 0;
    double sync_secs_ = 30;
    std::uint64_t sync_start_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    const options o = parse_args(argc, argv);
    floor_listener f(o);
    return f.run();
}
