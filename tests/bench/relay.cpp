// sse-relay: the least a NOTIFY-to-SSE relay can do, the yardstick compare.sh
// judges the gateway's latency against (issue 19 section 8). One libpq
// connection LISTENs on every user's channel (user_{user}, --users A-B) before
// the relay accepts; a GET whose path ends in a user id (/sub/42) gets a 200 and
// then each payload NOTIFYed on user_42 as one "data: <payload>" event. No auth,
// no ids, no heartbeats, no replay, no queue: one thread, one epoll loop, and a
// write to each of the user's sockets as the NOTIFY is read. Prints
// {"msg":"listening","port":P} on stdout once it accepts.
#include "bench_common.hpp"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>

#include <iostream>
#include <unordered_map>

using namespace gw::bench;

int main(int argc, char** argv) {
    std::string url;
    user_range users{1, 100};
    for (int i = 1; i < argc; i += 2) {
        const std::string a = argv[i];
        if (i + 1 >= argc || (a != "--database-url" && a != "--users"))
            die("usage: sse-relay --database-url URL [--users A-B]");
        if (a == "--database-url") url = argv[i + 1];
        if (a == "--users") users = parse_range(argv[i + 1]);
    }
    signal(SIGPIPE, SIG_IGN);
    const char* keys[] = {"dbname", "application_name", nullptr};
    const char* values[] = {url.c_str(), "sse-relay", nullptr};
    PGconn* pg = PQconnectdbParams(keys, values, 1);
    if (PQstatus(pg) != CONNECTION_OK) die(std::string("connect: ") + PQerrorMessage(pg));
    for (std::uint64_t u = users.first; u <= users.last;) {
        std::string sql;
        for (int n = 0; n < 1000 && u <= users.last; ++n, ++u) sql += "LISTEN user_" + std::to_string(u) + ";";
        PGresult* r = PQexec(pg, sql.c_str());
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die(std::string("LISTEN: ") + PQerrorMessage(pg));
        PQclear(r);
    }

    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(lfd, 4096) != 0 ||
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        die("cannot listen on 127.0.0.1");
    std::cout << "{\"msg\":\"listening\",\"port\":" << ntohs(addr.sin_port) << "}" << std::endl;

    const int ep = ::epoll_create1(0);
    auto watch = [ep](int fd) {
        epoll_event ev{EPOLLIN, {.fd = fd}};
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    };
    watch(lfd);
    watch(PQsocket(pg));
    std::unordered_map<int, std::string> heads;                   // sockets still sending their request
    std::unordered_map<int, std::uint64_t> user_of;               // streaming sockets
    std::unordered_map<std::uint64_t, std::vector<int>> streams;  // user -> sockets
    auto drop = [&](int fd) {
        if (auto it = user_of.find(fd); it != user_of.end()) {
            auto& v = streams[it->second];
            std::erase(v, fd);
            user_of.erase(it);
        }
        heads.erase(fd);
        ::close(fd);  // also leaves the epoll set
    };
    epoll_event ev[256];
    for (;;) {
        const int n = ::epoll_wait(ep, ev, 256, -1);
        for (int i = 0; i < n; ++i) {
            const int fd = ev[i].data.fd;
            if (fd == lfd) {
                for (int c; (c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
                    const int one = 1;
                    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    heads[c];
                    watch(c);
                }
            } else if (fd == PQsocket(pg)) {
                if (PQconsumeInput(pg) == 0) die(std::string("connection lost: ") + PQerrorMessage(pg));
                std::vector<int> dead;
                while (PGnotify* note = PQnotifies(pg)) {
                    const std::string event = std::string("data: ") + note->extra + "\n\n";
                    const std::uint64_t user = std::strtoull(note->relname + 5, nullptr, 10);  // "user_<id>"
                    for (int s : streams[user])
                        if (!write_all(s, event)) dead.push_back(s);
                    PQfreemem(note);
                }
                for (int s : dead) drop(s);
            } else {
                char buf[4096];
                const ssize_t got = ::read(fd, buf, sizeof buf);
                auto head = heads.find(fd);
                if (got < 0 && errno == EAGAIN) continue;
                if (got <= 0 || head == heads.end()) {  // EOF, error, or bytes after the request
                    drop(fd);
                    continue;
                }
                head->second.append(buf, static_cast<std::size_t>(got));
                if (head->second.find("\r\n\r\n") == std::string::npos) continue;
                // "GET /sub/42 HTTP/1.1": the digits that end the path.
                const std::string path = head->second.substr(0, head->second.find(" HTTP/"));
                const std::uint64_t user =
                    std::strtoull(path.c_str() + path.find_last_not_of("0123456789") + 1, nullptr, 10);
                heads.erase(head);
                if (!write_all(
                        fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")) {
                    drop(fd);
                    continue;
                }
                user_of[fd] = user;
                streams[user].push_back(fd);
            }
        }
    }
}
