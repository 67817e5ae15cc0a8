// The stream session on a real loopback socket pair, fed by the hub fixture (no
// database): pending -> live -> closed, the 503 of a stream never listened,
// events held behind the catch-up, the queue bound, and a client that leaves.
#include "config.hpp"
#include "http/stream_session.hpp"
#include "hub_fixture.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace gw;
using namespace gw::test;
using namespace std::chrono_literals;

namespace {

config config_from(std::vector<const char*> flags) {
    flags.insert(flags.begin(), "sse-gateway");
    auto parsed = parse_config(static_cast<int>(flags.size()), flags.data(),
                               [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
    return parsed.cfg;
}

// One stream of user 1 on the registry's loop, and the client end of its socket.
struct stream_fixture {
    explicit stream_fixture(std::vector<const char*> flags)
        : cfg(config_from(std::move(flags))), state(cfg), client(client_ioc) {
        tcp::acceptor acceptor(h.streams->context(), {net::ip::address_v4::loopback(), 0});
        client.connect(acceptor.local_endpoint());
        auto server = acceptor.accept();
        client.non_blocking(true);
        h.on([&] {
            auto& route = *state.routes.front();
            route.streams = h.streams.get();
            std::make_shared<web::stream_session>(std::move(server), state, route, "1", "user_1",
                                                  web::connection_slot(state.connections), false, std::nullopt,
                                                  route.stream_head, std::chrono::steady_clock::time_point::max())
                ->start();
        });
    }

    // Everything the client has been sent so far; `closed` once the server hung up.
    std::string read() {
        h.run();
        std::array<char, 65536> buf;
        for (;;) {
            error_code ec;
            auto n = client.read_some(net::buffer(buf), ec);
            got.append(buf.data(), n);
            if (ec == net::error::would_block) break;
            if (ec) {
                closed = true;
                break;
            }
        }
        return got;
    }
    std::uint64_t closes(hub::close_reason r) const { return h.streams->stats().closes[hub::index_of(r)].value(); }

    config cfg;
    web::shared_state state;
    hub_fixture h;
    net::io_context client_ioc;
    tcp::socket client;
    std::string got;
    bool closed = false;
};

std::size_t count(const std::string& text, std::string_view what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("a stream says nothing until its channel is listened, then the head, then events", "[stream]") {
    stream_fixture f({"--proxy-secret", "stream-session-test-secret-of-32-bytes"});
    CHECK(f.read().empty());  // pending: not even the status line
    f.h.input.confirm_all();
    auto head = f.read();
    CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(head.find("Content-Type: text/event-stream\r\n") != std::string::npos);
    CHECK(head.find("retry: ") != std::string::npos);
    f.h.input.notify("user_1", R"({"status":"approved"})");
    CHECK(f.read().find(R"(data: {"status":"approved"})") != std::string::npos);
    CHECK(f.h.streams->stats().streams_opened.value() == 1);
}

TEST_CASE("a stream whose channel is not listened in time is answered 503 and closed", "[stream]") {
    stream_fixture f({"--proxy-secret", "stream-session-test-secret-of-32-bytes", "--listen-timeout", "1"});
    for (int i = 0; i < 300 && !f.closed; ++i) {
        f.read();
        std::this_thread::sleep_for(10ms);
    }
    CHECK(f.closed);
    CHECK(f.got.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
    CHECK(f.got.find("Retry-After: 5\r\n") != std::string::npos);
    CHECK(f.got.find(R"("error":"unavailable")") != std::string::npos);
    CHECK(f.closes(hub::close_reason::database_unavailable) == 1);
    CHECK(f.h.input.unlistened == std::vector<std::string>{"user_1"});
}

TEST_CASE("events arriving during the catch-up wait for it, in order, and supersede the snapshot", "[stream]") {
    stream_fixture f({"--proxy-secret", "stream-session-test-secret-of-32-bytes", "--snapshot-sql", "select 1"});
    f.h.input.snapshots["1"] = "pending";
    f.h.input.hold_snapshots = true;
    f.h.input.confirm_all();
    f.read();
    REQUIRE(f.h.input.held.size() == 1);  // the stream asked for its snapshot
    f.h.input.notify("user_1", "approved");
    f.h.input.notify("user_1", "denied");
    CHECK(count(f.read(), "data: ") == 0);  // held: the snapshot has not come
    f.h.input.answer_snapshots();
    const auto body = f.read();
    // Committed after the query read "pending": the query's answer is older news.
    REQUIRE(count(body, "data: ") == 2);
    CHECK(body.find(R"({"status":"pending"})") == std::string::npos);
    CHECK(body.find(R"({"status":"approved"})") < body.find(R"({"status":"denied"})"));
}

TEST_CASE("a snapshot no NOTIFY overtook goes first, the events after it follow", "[stream]") {
    stream_fixture f({"--proxy-secret", "stream-session-test-secret-of-32-bytes", "--snapshot-sql", "select 1"});
    f.h.input.snapshots["1"] = "pending";
    f.h.input.hold_snapshots = true;
    f.h.input.confirm_all();
    f.read();
    f.h.input.answer_snapshots();
    f.h.input.notify("user_1", "approved");
    const auto body = f.read();
    REQUIRE(count(body, "data: ") == 2);
    CHECK(body.find(R"({"status":"pending"})") < body.find(R"({"status":"approved"})"));
}

TEST_CASE("held events count against the queue bound: past it the stream is closed as slow", "[stream]") {
    stream_fixture f({"--proxy-secret", "stream-session-test-secret-of-32-bytes", "--snapshot-sql", "select 1", "--max-queue-bytes", "1024"});
    f.h.input.snapshots["1"] = "pending";
    f.h.input.hold_snapshots = true;
    f.h.input.confirm_all();
    f.read();
    const std::string big(400, 'x');
    for (int i = 0; i < 4; ++i) f.h.input.notify("user_1", big);
    f.read();
    CHECK(f.closed);
    CHECK(f.closes(hub::close_reason::slow_consumer) == 1);
    CHECK(f.got.find("xxxx") == std::string::npos);  // nothing of the held events went out
}

TEST_CASE("a client that leaves closes its stream and gives the LISTEN up", "[stream]") {
    stream_fixture f({"--proxy-secret", "stream-session-test-secret-of-32-bytes"});
    f.h.input.confirm_all();
    f.read();
    f.client.close();
    for (int i = 0; i < 100 && f.closes(hub::close_reason::client_closed) == 0; ++i) {
        f.h.run();
        std::this_thread::sleep_for(1ms);
    }
    CHECK(f.closes(hub::close_reason::client_closed) == 1);
    f.h.run();
    CHECK(f.h.input.unlistened == std::vector<std::string>{"user_1"});
    CHECK(f.state.connections.value() == 0);
}
