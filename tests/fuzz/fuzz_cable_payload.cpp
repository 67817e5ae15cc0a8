// The action-cable payload mode (common/action_cable_payload) on hostile NOTIFY
// payloads.
//
// Input: a payload (< 8000 bytes, as NOTIFY allows).
//
// Checked against a DOM reading (RapidJSON Document over a plain MemoryStream,
// UTF-8 validated, the same grammar JSON.parse has): a payload that is one JSON
// string becomes exactly that string's value; anything else comes back
// unchanged, byte for byte.
#include "action_cable_payload.hpp"
#include "fuzz_support.hpp"

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
    const auto payload = gw::fuzz::as_text(data, size);
    const auto out = gw::action_cable_text(payload);
    rapidjson::MemoryStream ms(payload.data(), payload.size());
    rapidjson::Document doc;
    doc.ParseStream<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(ms);
    if (!doc.HasParseError() && doc.IsString())
        fuzz_check(out == std::string_view(doc.GetString(), doc.GetStringLength()));
    else
        fuzz_check(out == payload);
    return 0;
}
