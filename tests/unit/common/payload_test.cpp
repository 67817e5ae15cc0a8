#include "payload_rule.hpp"

#include "small_stack.hpp"

#include <catch2/catch.hpp>

using gw::event_data;

TEST_CASE("a plain-text payload is wrapped under the wrap field", "[payload]") {
    CHECK(event_data("approved", "status") == R"({"status":"approved"})");
    CHECK(event_data("denied", "state") == R"({"state":"denied"})");
    CHECK(event_data("", "status") == R"({"status":""})");
}

TEST_CASE("quotes, backslashes and control characters in plain text are escaped", "[payload]") {
    CHECK(event_data("say \"hi\"\\", "status") == R"({"status":"say \"hi\"\\"})");
    CHECK(event_data("a\nb\tc\rd", "status") == R"({"status":"a\nb\tc\rd"})");
    CHECK(event_data(std::string_view("\x01\x1f", 2), "status") == R"({"status":"\u0001\u001F"})");
}

TEST_CASE("a JSON object payload passes through unchanged", "[payload]") {
    CHECK(event_data(R"({"status":"approved","at":1})", "status") == R"({"status":"approved","at":1})");
    CHECK(event_data("{\n  \"a\": [1, 2]\n}", "status") == "{\n  \"a\": [1, 2]\n}");
    CHECK(event_data("  {}  ", "status") == "  {}  ");
}

TEST_CASE("JSON that is not an object, or not JSON at all, is plain text", "[payload]") {
    CHECK(event_data("[1,2]", "status") == R"({"status":"[1,2]"})");
    CHECK(event_data("42", "status") == R"({"status":"42"})");
    CHECK(event_data(R"("approved")", "status") == R"({"status":"\"approved\""})");
    CHECK(event_data(R"({"a":1} trailing)", "status") == R"({"status":"{\"a\":1} trailing"})");
    CHECK(event_data(R"({"a":)", "status") == R"({"status":"{\"a\":"})");
    // JSON.parse refuses a BOM, and a lone byte of one, before the object.
    CHECK(event_data("\xbf{}", "status") == "{\"status\":\"\xbf{}\"}");
    CHECK(event_data("\xef\xbb\xbf{}", "status") == "{\"status\":\"\xef\xbb\xbf{}\"}");
    CHECK_FALSE(gw::user_in_payload("\xbf{\"user\":\"7\"}", "user"));
}

TEST_CASE("error bodies are JSON with an error code and a message", "[payload]") {
    CHECK(gw::error_body("not_found", "no such \"route\"") == R"({"error":"not_found","message":"no such \"route\""})");
}

TEST_CASE("a shared-channel payload names its user in a string or integer field", "[payload]") {
    CHECK(gw::user_in_payload(R"({"user":"42","status":"approved"})", "user") == std::optional<std::string>("42"));
    CHECK(gw::user_in_payload(R"({"user":42})", "user") == std::optional<std::string>("42"));
    CHECK(gw::user_in_payload(R"({"uid":"7"})", "uid") == std::optional<std::string>("7"));
    CHECK_FALSE(gw::user_in_payload(R"({"user":-1})", "user"));
    CHECK_FALSE(gw::user_in_payload(R"({"user":4.5})", "user"));
    CHECK_FALSE(gw::user_in_payload(R"({"user":null})", "user"));
    CHECK_FALSE(gw::user_in_payload(R"({"status":"approved"})", "user"));
    CHECK_FALSE(gw::user_in_payload("approved", "user"));
    CHECK_FALSE(gw::user_in_payload(R"(["user","42"])", "user"));
}

TEST_CASE("only a single top-level user field of a well-formed payload counts", "[payload]") {
    // A nested "user" is not the payload's user, and a payload naming the user twice
    // names nobody (JSON.parse in the browser would read the last, a DOM the first).
    CHECK_FALSE(gw::user_in_payload(R"({"meta":{"user":"8"}})", "user"));
    CHECK(gw::user_in_payload(R"({"meta":{"user":"8"},"user":"7"})", "user") == std::optional<std::string>("7"));
    CHECK_FALSE(gw::user_in_payload(R"({"user":"7","user":"8"})", "user"));
    CHECK_FALSE(gw::user_in_payload(R"({"user":"7","status":"approved","user":"7"})", "user"));
    CHECK_FALSE(gw::user_in_payload(R"({"user":null,"user":"8"})", "user"));
    CHECK_FALSE(gw::user_in_payload(R"({"user":["8"]})", "user"));
    CHECK_FALSE(gw::user_in_payload(R"({"user":{"id":"8"}})", "user"));
    CHECK_FALSE(gw::user_in_payload(R"({"user":"7"} {"user":"8"})", "user"));
    CHECK_FALSE(gw::user_in_payload(R"({"user":"7")", "user"));
    CHECK_FALSE(gw::user_in_payload(R"({"user":123456789012345678901234567890})", "user"));
    CHECK(gw::user_in_payload(R"( {"status":[1,{"user":"9"}],"user":18446744073709551615} )", "user") ==
          std::optional<std::string>("18446744073709551615"));
}

TEST_CASE("a payload nested thousands of levels deep is read without recursion", "[payload]") {
    // 7,990 levels fit NOTIFY's 8000-byte payload limit; the recursive reader
    // overflowed a 256 KiB stack on it (SIGSEGV, the whole gateway gone).
    std::optional<std::string> deep_user, deep_closed_data, deep_open_data;
    gw::test::run_on_small_stack([&] {
        constexpr std::size_t depth = 7990;
        const std::string open = R"({"a":)" + std::string(depth, '[');
        const std::string closed = R"({"user":"5","a":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
        deep_open_data = gw::event_data(open, "status");
        deep_closed_data = gw::event_data(closed, "status");
        deep_user = gw::user_in_payload(closed, "user");
        if (gw::user_in_payload(open, "user")) deep_user = "unexpected";
    });
    REQUIRE(deep_open_data);
    CHECK(deep_open_data->rfind(R"({"status":"{\"a\":[[[)", 0) == 0);  // not JSON: wrapped as text
    REQUIRE(deep_closed_data);
    CHECK(deep_closed_data->size() == 16 + 2 * 7990 + 1);  // well-formed: passed through unchanged
    CHECK(deep_user == std::optional<std::string>("5"));
}
