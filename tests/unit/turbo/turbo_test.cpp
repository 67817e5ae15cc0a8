// Refusals of the Turbo pieces that need no Rails to produce.
#include "action_cable_payload.hpp"
#include "turbo/signed_stream_name.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

using namespace gw;
using namespace gw::turbo;

namespace {
const std::string base(128, 'a');
}

TEST_CASE("A signed stream name that is empty, too long or without its digest is refused before any HMAC") {
    const signed_stream_verifier v({base});
    CHECK(v.verify("").refusal == name_refusal::missing);
    CHECK(v.verify(std::string(signed_stream_verifier::max_signed_name + 1, 'A')).refusal == name_refusal::too_long);
    CHECK(v.verify("ImEi").refusal == name_refusal::malformed);
    CHECK(v.verify("ImEi--" + std::string(63, '0')).refusal == name_refusal::malformed);
    CHECK(v.verify("ImEi-_" + std::string(64, '0')).refusal == name_refusal::malformed);
    CHECK(v.verify("ImEi--" + std::string(64, '0')).refusal == name_refusal::bad_signature);
}

TEST_CASE("A verifier without a secret_key_base cannot be made") {
    CHECK_THROWS_AS(signed_stream_verifier({}), std::invalid_argument);
    CHECK_THROWS_AS(signed_stream_verifier({""}), std::invalid_argument);
}

TEST_CASE("Action Cable payloads that are not one JSON string pass through as they are") {
    CHECK(action_cable_text("") == "");
    CHECK(action_cable_text("plain <b>text</b>") == "plain <b>text</b>");
    CHECK(action_cable_text("\"unterminated") == "\"unterminated");
    CHECK(action_cable_text("\"a\" \"b\"") == "\"a\" \"b\"");
    CHECK(action_cable_text("\"bad \\x escape\"") == "\"bad \\x escape\"");
    CHECK(action_cable_text("\"\xff\"") == "\"\xff\"");
    CHECK(action_cable_text(" \"\\u003cp\\u003e\\n\" ") == "<p>\n");
    CHECK(action_cable_text("{\"a\":\"\\u003c\"}") == "{\"a\":\"\\u003c\"}");
}
