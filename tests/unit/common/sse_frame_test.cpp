#include "sse_frame.hpp"

#include <catch2/catch.hpp>

using gw::sse::frame_event;

TEST_CASE("an event is framed with id, event and one data line", "[sse]") {
    CHECK(frame_event("b-1", "authy_status", R"({"status":"approved"})") ==
          "id: b-1\nevent: authy_status\ndata: {\"status\":\"approved\"}\n\n");
}

TEST_CASE("an unnamed event has no event line", "[sse]") {
    CHECK(frame_event("b-1", "", "<turbo-stream>") == "id: b-1\ndata: <turbo-stream>\n\n");
}

TEST_CASE("data is split at every kind of line terminator", "[sse]") {
    struct row {
        const char* data;
        const char* lines;
    };
    const row rows[] = {
        {"a\nb", "data: a\ndata: b\n"},
        {"a\r\nb", "data: a\ndata: b\n"},
        {"a\rb", "data: a\ndata: b\n"},
        {"a\n\nb", "data: a\ndata: \ndata: b\n"},
        {"a\n", "data: a\ndata: \n"},
        {"", "data: \n"},
        {"\r\n\r", "data: \ndata: \ndata: \n"},
    };
    for (const auto& r : rows) {
        INFO("data: " << r.data);
        CHECK(frame_event("1", "e", r.data) == std::string("id: 1\nevent: e\n") + r.lines + "\n");
    }
}

TEST_CASE("the preamble carries the retry hint and a flushing comment", "[sse]") {
    CHECK(gw::sse::preamble(std::chrono::milliseconds(2000)) == "retry: 2000\n: ok\n\n");
    CHECK(std::string(gw::sse::heartbeat) == ": hb\n\n");
}

TEST_CASE("field values with line terminators are recognised", "[sse]") {
    CHECK(gw::sse::is_single_line("authy_status"));
    CHECK_FALSE(gw::sse::is_single_line("a\nb"));
    CHECK_FALSE(gw::sse::is_single_line("a\rb"));
}
