// What a payload becomes as SSE data under each route payload mode.
#include "hub/event_framer.hpp"

#include <catch2/catch.hpp>

using gw::payload_mode;
using gw::hub::event_framer;

namespace {

// The frame's lines after "id: ...\n".
std::string body(const event_framer& f, std::string_view payload) {
    auto frame = *f.frame(7, payload);
    const std::string id = "id: " + f.boot_id() + "-7\n";
    REQUIRE(frame.substr(0, id.size()) == id);
    return frame.substr(id.size());
}

}  // namespace

TEST_CASE("status mode: the payload rule, wrapped under the wrap field", "[framer]") {
    event_framer f("authy_status", "status");
    CHECK(body(f, "approved") == "event: authy_status\ndata: {\"status\":\"approved\"}\n\n");
    CHECK(body(f, R"({"a":1})") == "event: authy_status\ndata: {\"a\":1}\n\n");
    event_framer explicit_status("authy_status", "status", payload_mode::status);
    CHECK(body(explicit_status, "approved") == body(f, "approved"));
}

TEST_CASE("raw mode: the payload's text as data lines", "[framer]") {
    event_framer f("feed", "status", payload_mode::raw);
    CHECK(body(f, "approved") == "event: feed\ndata: approved\n\n");
    CHECK(body(f, "\"quoted\"") == "event: feed\ndata: \"quoted\"\n\n");
    CHECK(body(f, "a\nb") == "event: feed\ndata: a\ndata: b\n\n");
}

TEST_CASE("action_cable mode: a JSON string is decoded, anything else passes as text", "[framer]") {
    event_framer f("", "status", payload_mode::action_cable);
    // As ActiveSupport::JSON.encode writes a Turbo Stream: unnamed event, HTML decoded.
    CHECK(body(f, R"("\u003cturbo-stream action=\"append\"\u003e\n\u003c/turbo-stream\u003e")") ==
          "data: <turbo-stream action=\"append\">\ndata: </turbo-stream>\n\n");
    CHECK(body(f, R"({"a":"\u003c"})") == "data: {\"a\":\"\\u003c\"}\n\n");
    CHECK(body(f, "[1,2]") == "data: [1,2]\n\n");
    CHECK(body(f, R"("unterminated)") == "data: \"unterminated\n\n");
    CHECK(body(f, "plain <b>") == "data: plain <b>\n\n");
}
