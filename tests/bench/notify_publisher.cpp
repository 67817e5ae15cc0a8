// sse-notify-pub: publishes "<user>:<seq>:<send_ns>" events for the benchmarks.
//
// PostgreSQL: `SELECT pg_notify($1, $2)` with $1 = the user's channel, one
// autocommit statement per event (--statement replaces it, e.g. an UPDATE whose
// trigger NOTIFYs, with --channel-template {user} making $1 the user id). In
// rate mode each statement waits for its result; flat and broadcast modes
// pipeline them (libpq pipeline mode, a sync after every statement so each is
// its own transaction) with a bounded window.
// HTTP (nchan): `POST /pub/{user}` with the same body on one keep-alive
// connection, pipelined the same way.
//
// Modes: rate (R per second to random users for D seconds or N events), flat
// (as fast as possible to random users), broadcast (one event per user, back
// to back, users in order), single (one event for --user; user 0 is "everyone",
// for a broadcast channel). Sequence numbers continue across runs sharing
// --state. With --payload json the body is {"user":"U","status":"U:SEQ:NS"}
// (the gateway's shared channel mode). With --payload turbo the body is Turbo
// Stream HTML of --payload-bytes carrying the same marker; turbo-cable is that
// HTML as Rails' Action Cable puts it in a NOTIFY (a JSON string). Prints one
// JSON line.
#include "bench_common.hpp"

#include <libpq-fe.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

#include <iostream>
#include <memory>
#include <random>

namespace {

using namespace gw::bench;

struct options {
    std::string database_url;
    std::string http;  // host:port
    std::string channel_template = "user_{user}";
    std::string statement = "SELECT pg_notify($1, $2)";
    std::string path_template = "/pub/{user}";
    user_range users{1, 100};
    std::string mode = "rate";
    double rate = 1000;
    double duration_s = 0;
    std::uint64_t count = 0;
    std::size_t window = 256;
    std::string state;
    std::uint64_t seed = 1;
    std::uint64_t user = 0;         // single mode
    std::string payload = "plain";  // plain | json | turbo | turbo-cable
    std::size_t payload_bytes = 4096;
    std::string user_field = "user";
};

void usage() {
    std::cout << R"(usage: sse-notify-pub (--database-url URL | --http HOST:PORT) [options]
  --mode rate|flat|broadcast|single   (default rate)
  --users A-B                  user ids (default 1-100)
  --rate R                     events per second in rate mode (default 1000)
  --duration S                 stop after S seconds (rate, flat)
  --count N                    stop after N events (rate, flat); single: send N
                               events back to back (default 1)
  --window W                   statements/requests in flight in flat and broadcast (default 256)
  --state FILE                 per-user sequence numbers, read and rewritten
  --seed N                     random user choice (default 1)
  --user N                     the one user of single mode (0: every stream)
  --payload plain|json|turbo|turbo-cable
                               body "U:SEQ:NS", {"USER_FIELD":"U","status":"U:SEQ:NS"},
                               turbo: a <turbo-stream action="append"> of --payload-bytes
                               whose first element carries data-bench="U:SEQ:NS" (what
                               nchan is sent), turbo-cable: that HTML as Action Cable
                               NOTIFYs it, ActiveSupport::JSON.encode's JSON string
                               (<, >, & as \u003c \u003e \u0026), for a Turbo route
  --payload-bytes N            the turbo HTML's size in bytes before encoding (default
                               4096; with turbo-cable it grows by the escapes, and a
                               NOTIFY payload must stay under 8,000 bytes)
  --user-field NAME            (default user)
  --channel-template T         PostgreSQL channel (default user_{user}; a fixed name
                               such as sse_gateway_events for a shared channel)
  --path-template T            HTTP publish path (default /pub/{user})
  --statement SQL              what runs per event, $1 = the channel, $2 = the payload
                               (default SELECT pg_notify($1, $2)); e.g.
                               'UPDATE users SET authy_status = $2 WHERE id = $1::bigint'
                               with --channel-template {user}
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
        else if (a == "--http")
            o.http = val();
        else if (a == "--channel-template")
            o.channel_template = val();
        else if (a == "--path-template")
            o.path_template = val();
        else if (a == "--statement")
            o.statement = val();
        else if (a == "--users")
            o.users = parse_range(val());
        else if (a == "--mode")
            o.mode = val();
        else if (a == "--rate")
            o.rate = parse_double(val(), "--rate");
        else if (a == "--duration")
            o.duration_s = parse_double(val(), "--duration");
        else if (a == "--count")
            o.count = parse_u64(val(), "--count");
        else if (a == "--window")
            o.window = parse_u64(val(), "--window");
        else if (a == "--state")
            o.state = val();
        else if (a == "--seed")
            o.seed = parse_u64(val(), "--seed");
        else if (a == "--user")
            o.user = parse_u64(val(), "--user");
        else if (a == "--user-field")
            o.user_field = val();
        else if (a == "--payload") {
            o.payload = val();
            if (o.payload != "plain" && o.payload != "json" && o.payload != "turbo" && o.payload != "turbo-cable")
                die("--payload must be plain, json, turbo or turbo-cable");
        } else if (a == "--payload-bytes")
            o.payload_bytes = parse_u64(val(), "--payload-bytes");
        else
            die("unknown option " + a + " (see --help)");
    }
    if (o.database_url.empty() == o.http.empty()) die("give exactly one of --database-url and --http");
    if (o.mode != "rate" && o.mode != "flat" && o.mode != "broadcast" && o.mode != "single")
        die("--mode must be rate, flat, broadcast or single");
    if (o.mode == "rate" && o.rate <= 0) die("--rate must be positive");
    if ((o.mode == "rate" || o.mode == "flat") && o.duration_s <= 0 && o.count == 0) die("give --duration or --count");
    if (o.window == 0) die("--window must be positive");
    return o;
}

// Something that takes events and confirms them, with a bounded number in flight.
class sender {
public:
    virtual ~sender() = default;
    virtual void send(std::uint64_t user, const std::string& body) = 0;
    // Waits until at most `k` sends are unconfirmed.
    virtual void drain_until(std::size_t k) = 0;
    std::uint64_t errors = 0;
    std::string first_error;

protected:
    void error(std::string what) {
        ++errors;
        if (first_error.empty()) first_error = std::move(what);
    }
};

class pg_sender final : public sender {
public:
    pg_sender(const std::string& url, std::string channel_template, const std::string& statement)
        : tmpl_(std::move(channel_template)) {
        conn_ = PQconnectdb(url.c_str());
        if (PQstatus(conn_) != CONNECTION_OK) die(std::string("connect: ") + PQerrorMessage(conn_));
        PGresult* r = PQprepare(conn_, "n", statement.c_str(), 2, nullptr);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die(std::string("prepare: ") + PQerrorMessage(conn_));
        PQclear(r);
        if (PQsetnonblocking(conn_, 1) != 0 || PQenterPipelineMode(conn_) != 1)
            die(std::string("pipeline mode: ") + PQerrorMessage(conn_));
    }
    ~pg_sender() override { PQfinish(conn_); }

    void send(std::uint64_t user, const std::string& body) override {
        const std::string channel = expand_user(tmpl_, user);
        const char* vals[2] = {channel.c_str(), body.c_str()};
        if (PQsendQueryPrepared(conn_, "n", 2, vals, nullptr, nullptr, 0) != 1 || PQpipelineSync(conn_) != 1)
            die(std::string("send: ") + PQerrorMessage(conn_));
        ++outstanding_;
        flush();
    }

    void drain_until(std::size_t k) override {
        while (outstanding_ > k) {
            flush();
            collect();
            if (outstanding_ <= k) break;
            pollfd p{PQsocket(conn_), POLLIN, 0};
            ::poll(&p, 1, 1000);
            if (PQconsumeInput(conn_) != 1) die(std::string("connection lost: ") + PQerrorMessage(conn_));
        }
        collect();
    }

private:
    void flush() {
        for (;;) {
            int r = PQflush(conn_);
            if (r == 0) return;
            if (r < 0) die(std::string("flush: ") + PQerrorMessage(conn_));
            pollfd p{PQsocket(conn_), POLLOUT | POLLIN, 0};
            ::poll(&p, 1, 1000);
            if ((p.revents & POLLIN) && PQconsumeInput(conn_) != 1)
                die(std::string("connection lost: ") + PQerrorMessage(conn_));
        }
    }

    void collect() {
        int nulls = 0;
        while (outstanding_ > 0 && !PQisBusy(conn_)) {
            PGresult* r = PQgetResult(conn_);
            if (!r) {
                // End of one statement's results; twice in a row means nothing is ready.
                if (++nulls > 1) break;
                continue;
            }
            nulls = 0;
            switch (PQresultStatus(r)) {
                case PGRES_PIPELINE_SYNC:
                    --outstanding_;
                    break;
                case PGRES_TUPLES_OK:
                case PGRES_COMMAND_OK:
                    break;
                default:
                    error(PQresultErrorMessage(r));
                    break;
            }
            PQclear(r);
        }
    }

    PGconn* conn_ = nullptr;
    std::string tmpl_;
    std::size_t outstanding_ = 0;
};

class http_sender final : public sender {
public:
    http_sender(const std::string& hostport, std::string path_template) : tmpl_(std::move(path_template)) {
        auto colon = hostport.rfind(':');
        if (colon == std::string::npos) die("--http wants HOST:PORT");
        host_ = hostport;
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(parse_u64(hostport.substr(colon + 1), "--http port")));
        if (inet_pton(AF_INET, hostport.substr(0, colon).c_str(), &a.sin_addr) != 1) die("bad --http host");
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            die(std::string("connect ") + hostport + ": " + std::strerror(errno));
    }
    ~http_sender() override { ::close(fd_); }

    void send(std::uint64_t user, const std::string& body) override {
        std::string req = "POST " + expand_user(tmpl_, user) + " HTTP/1.1\r\nHost: " + host_ +
                          "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
        if (!write_all(fd_, req)) die(std::string("write: ") + std::strerror(errno));
        ++outstanding_;
    }

    void drain_until(std::size_t k) override {
        while (outstanding_ > k) {
            parse();
            if (outstanding_ <= k) break;
            char b[65536];
            ssize_t n = ::recv(fd_, b, sizeof b, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) die("publisher connection closed by the server");
            in_.append(b, static_cast<std::size_t>(n));
        }
    }

private:
    // Consumes every complete response in in_.
    void parse() {
        for (;;) {
            auto end = in_.find("\r\n\r\n");
            if (end == std::string::npos) return;
            std::string head = in_.substr(0, end);
            for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::size_t body_start = end + 4, total = 0;
            if (auto cl = head.find("\r\ncontent-length:"); cl != std::string::npos) {
                total = body_start + std::strtoull(head.c_str() + cl + 17, nullptr, 10);
            } else if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
                std::size_t pos = body_start;
                for (;;) {
                    auto nl = in_.find("\r\n", pos);
                    if (nl == std::string::npos) return;
                    const std::uint64_t size = std::strtoull(in_.c_str() + pos, nullptr, 16);
                    pos = nl + 2 + size + 2;
                    if (pos > in_.size()) return;
                    if (size == 0) break;
                }
                total = pos;
            } else {
                total = body_start;
            }
            if (total > in_.size()) return;
            const int status = std::atoi(head.c_str() + 9);
            if (status < 200 || status > 299) error("HTTP " + std::to_string(status) + ": " + in_.substr(0, end));
            if (head.find("\r\nconnection: close") != std::string::npos) error("server closes the connection");
            in_.erase(0, total);
            --outstanding_;
        }
    }

    int fd_ = -1;
    std::string host_;
    std::string tmpl_;
    std::string in_;
    std::size_t outstanding_ = 0;
};

// A Turbo Stream append of about `bytes` bytes (never less than its frame): the
// marker in the first element, so sse-load finds it before any other digits,
// then list items of ordinary markup up to the size.
std::string turbo_html(std::uint64_t user, const std::string& marker, std::size_t bytes) {
    std::string head = "<turbo-stream action=\"append\" target=\"room_" + std::to_string(user) +
                       "\"><template><ul class=\"messages\" data-bench=\"" + marker + "\">";
    const std::string tail = "</ul></template></turbo-stream>";
    const std::string item = "<li class=\"message\">Lorem ipsum dolor sit amet &amp; consectetur</li>";
    while (head.size() + item.size() + tail.size() <= bytes) head += item;
    if (head.size() + tail.size() < bytes) head.append(bytes - head.size() - tail.size(), ' ');
    return head + tail;
}

// ActiveSupport::JSON.encode(text) for this ASCII text: a JSON string with <, >
// and & escaped for HTML, as Action Cable's broadcast puts it in a NOTIFY.
std::string action_cable_json(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '<':
                out += "\\u003c";
                break;
            case '>':
                out += "\\u003e";
                break;
            case '&':
                out += "\\u0026";
                break;
            default:
                out += c;
                break;
        }
    }
    return out + '"';
}

void sleep_until(std::uint64_t t) {
    timespec ts{static_cast<time_t>(t / 1'000'000'000ULL), static_cast<long>(t % 1'000'000'000ULL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    const options o = parse_args(argc, argv);
    seq_state state = read_state(o.state);
    std::unique_ptr<sender> out;
    if (!o.database_url.empty())
        out = std::make_unique<pg_sender>(o.database_url, o.channel_template, o.statement);
    else
        out = std::make_unique<http_sender>(o.http, o.path_template);

    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<std::uint64_t> pick(o.users.first, o.users.last);
    const bool pipelined = o.mode != "rate";
    const std::size_t window = o.window;

    std::uint64_t sent = 0, first_send = 0, last_send = 0;
    const std::uint64_t t0 = now_ns();
    const std::uint64_t stop_at = o.duration_s > 0 ? t0 + static_cast<std::uint64_t>(o.duration_s * 1e9) : 0;
    auto publish = [&](std::uint64_t user) {
        const std::uint64_t seq = ++state[user];
        const std::uint64_t ns = now_ns();
        std::string body = std::to_string(user) + ':' + std::to_string(seq) + ':' + std::to_string(ns);
        if (o.payload == "json")
            body = "{\"" + o.user_field + "\":\"" + std::to_string(user) + "\",\"status\":\"" + body + "\"}";
        else if (o.payload == "turbo")
            body = turbo_html(user, body, o.payload_bytes);
        else if (o.payload == "turbo-cable")
            body = action_cable_json(turbo_html(user, body, o.payload_bytes));
        out->send(user, body);
        if (sent++ == 0) first_send = ns;
        last_send = ns;
        out->drain_until(pipelined ? window - 1 : 0);
    };

    if (o.mode == "single") {
        for (std::uint64_t i = 0; i < std::max<std::uint64_t>(o.count, 1); ++i) publish(o.user);
    } else if (o.mode == "broadcast") {
        for (std::uint64_t u = o.users.first; u <= o.users.last; ++u) publish(u);
    } else {
        const double interval = o.mode == "rate" ? 1e9 / o.rate : 0;
        for (std::uint64_t i = 0;; ++i) {
            if (o.count && i >= o.count) break;
            if (o.mode == "rate") {
                const auto due = t0 + static_cast<std::uint64_t>(static_cast<double>(i) * interval);
                if (stop_at && due >= stop_at) break;
                sleep_until(due);
            } else if (stop_at && (i & 63) == 0 && now_ns() >= stop_at) {
                break;
            }
            publish(pick(rng));
        }
    }
    out->drain_until(0);
    const std::uint64_t t1 = now_ns();
    write_state(o.state, state);

    const double secs = static_cast<double>(t1 - t0) / 1e9;
    json j;
    j.str("event", "published")
        .str("mode", o.mode)
        .num("sent", sent)
        .num("errors", out->errors)
        .num("seconds", secs)
        .num("rate", secs > 0 ? static_cast<double>(sent) / secs : 0.0)
        .num("first_send_ns", first_send)
        .num("last_send_ns", last_send);
    if (!out->first_error.empty()) j.str("first_error", out->first_error);
    std::cout << j.done() << std::endl;
    return out->errors ? 1 : 0;
}
