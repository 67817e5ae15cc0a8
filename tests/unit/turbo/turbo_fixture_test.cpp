// turbo-rails' formats as Debian's ruby-activesupport makes them
// (tests/support/make_turbo_fixtures.sh): signed stream names, Action Cable
// payloads and the PostgreSQL adapter's channel names.
#include "action_cable_payload.hpp"
#include "turbo/cable_channel.hpp"
#include "turbo/signed_stream_name.hpp"

#include "../auth/fixture_support.hpp"

#include <catch2/catch.hpp>

using namespace gw;
using namespace gw::turbo;
namespace t = gw::auth::test;

namespace {

rapidjson::Document& manifest() {
    static rapidjson::Document doc;
    if (!doc.IsObject()) t::fixture_cases(doc, "turbo_cases.json");
    return doc;
}

signed_stream_verifier app_verifier() {
    auto& doc = manifest();
    return signed_stream_verifier({t::str(doc, "base"), t::str(doc, "old_base")});
}

}  // namespace

TEST_CASE("Signed stream names made by ActiveSupport verify to their stream, with either key digest and a rotated base") {
    const auto verifier = app_verifier();
    int ok = 0, refused = 0;
    for (const auto& c : manifest()["cases"].GetArray()) {
        INFO("case " << t::str(c, "name"));
        const auto r = verifier.verify(t::str(c, "signed"));
        if (t::str(c, "expect") == "ok") {
            CHECK(r.ok());
            CHECK(r.name == t::str(c, "stream"));
            ++ok;
        } else {
            CHECK_FALSE(r.ok());
            CHECK(r.name.empty());
            CHECK(name_of(r.refusal) == t::str(c, "expect"));
            ++refused;
        }
    }
    CHECK(ok >= 15);
    CHECK(refused >= 9);
}

TEST_CASE("A signed stream name is refused once its secret_key_base is no longer configured") {
    auto& doc = manifest();
    const signed_stream_verifier current_only({t::str(doc, "base")});
    for (const auto& c : doc["cases"].GetArray()) {
        const auto name = t::str(c, "name");
        if (name.rfind("ok_sha256_old_", 0) != 0) continue;
        INFO("case " << name);
        CHECK(current_only.verify(t::str(c, "signed")).refusal == name_refusal::bad_signature);
    }
}

TEST_CASE("An Action Cable payload that encodes a string is sent as the string, any other value as its JSON") {
    int ran = 0;
    for (const auto& c : manifest()["payloads"].GetArray()) {
        INFO("case " << t::str(c, "name"));
        CHECK(action_cable_text(t::str(c, "payload")) == t::str(c, "expect"));
        ++ran;
    }
    CHECK(ran >= 7);
}

TEST_CASE("Channel names match Rails' PostgreSQL adapter: the prefix joined with a colon, SHA1 hex past 63 characters, PostgreSQL's cut to 63 bytes") {
    int ran = 0;
    for (const auto& c : manifest()["channels"].GetArray()) {
        const auto prefix = c["prefix"].IsNull() ? std::nullopt : std::optional<std::string>(t::str(c, "prefix"));
        INFO("stream " << t::str(c, "stream"));
        CHECK(cable_channel(prefix, t::str(c, "stream")) == t::str(c, "channel"));
        ++ran;
    }
    CHECK(ran >= 7);
}
