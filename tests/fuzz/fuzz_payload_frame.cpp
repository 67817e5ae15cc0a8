// The NOTIFY payload on its way to the browser: payload rule (common/payload_rule),
// framing (common/sse_frame, hub::event_framer), as a browser reads the result.
//
// Input: byte 0 holds flags (bit 0: an event name and a wrap field follow, each
// ended by '\n'; bits 1-7 pick the sequence number), then the payload, at most
// 7999 bytes as PostgreSQL allows (-max_len in CMakeLists.txt).
//
// Checked: the stream the gateway writes (preamble, heartbeat, the frame,
// heartbeat) reads as exactly one event, with our event name and id, whose data is
// event_data()'s text with its line ends as the browser joins them (LF); that data
// is a JSON object, and a wrapped plain payload comes back byte for byte. Two
// frames back to back (a write that batches them) read as two events. In shared
// mode, user_in_payload() agrees with a DOM reading of the same payload, and the
// channel namer's fast path for the default user pattern agrees with the regex.
#include "channel_namer.hpp"
#include "config.hpp"
#include "event_stream_parser.hpp"
#include "fuzz_support.hpp"
#include "hub/event_framer.hpp"
#include "payload_rule.hpp"
#include "sse_frame.hpp"

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace {

using gw::fuzz::as_text;

// What the browser's data is for a given text: its line ends become LF.
std::string browser_lines(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

// JSON.parse's reading: the text as it is. Document::Parse(str, length) wraps its
// input in an EncodedInputStream, which drops each of the BOM's bytes EF BB BF
// that starts the text, one by one: it read "\xBF{...}" as an object, which the
// browser's JSON.parse refuses and the gateway wraps as plain text.
void parse_as_json_parse(rapidjson::Document& doc, std::string_view text) {
    rapidjson::MemoryStream ms(text.data(), text.size());
    doc.ParseStream<rapidjson::kParseIterativeFlag, rapidjson::UTF8<>>(ms);
}

// The shared-mode oracle: the one top-level member called field, read from a DOM
// (iterative parse: the oracle must not be the thing that overflows). A name that
// appears twice names nobody.
std::optional<std::string> dom_user(std::string_view payload, std::string_view field) {
    rapidjson::Document doc;
    parse_as_json_parse(doc, payload);
    if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
    const rapidjson::Value* found = nullptr;
    for (const auto& m : doc.GetObject()) {
        if (std::string_view(m.name.GetString(), m.name.GetStringLength()) != field) continue;
        if (found) return std::nullopt;
        found = &m.value;
    }
    if (!found) return std::nullopt;
    if (found->IsString()) return std::string(found->GetString(), found->GetStringLength());
    if (found->IsUint64() && !found->IsDouble()) return std::to_string(found->GetUint64());
    return std::nullopt;
}

// Shared mode names the channel of every NOTIFY's user with channel_namer, whose
// default pattern skips the regex engine: it must agree with the regex itself.
void check_namer(std::string_view user) {
    static const gw::channel_namer fast("user_{user}", gw::default_user_pattern);
    static const gw::channel_namer slow("user_{user}", "^[0123456789]{1,20}$");  // the same, not recognised
    const auto a = fast.name(user), b = slow.name(user);
    fuzz_check(a.channel == b.channel && a.reason == b.reason);
    if (a.ok()) fuzz_check(a.channel == "user_" + std::string(user));
}

void check_user(std::string_view payload, std::string_view field) {
    const auto sax = gw::user_in_payload(payload, field);
    if (sax) check_namer(*sax);
    const auto dom = dom_user(payload, field);
    // The one known difference: RapidJSON's DOM stores -0 as the unsigned 0, its
    // SAX reader reports it as a signed int, which names nobody. Refusing is fine.
    if (!sax && dom == "0" && payload.find("-0") != std::string_view::npos) return;
    fuzz_check(sax == dom);
}

void check(std::uint8_t flags, std::string_view event, std::string_view wrap, std::string_view payload) {
    static const gw::hub::event_framer default_framer("authy_status", "status");
    const gw::hub::event_framer custom_framer{std::string(event), std::string(wrap)};
    const auto& framer = (flags & 1) ? custom_framer : default_framer;
    if (!(flags & 1)) {
        event = "authy_status";
        wrap = "status";
    }
    const std::uint64_t seq = (flags >> 1) * 0x9E3779B97F4A7C15ull;
    const std::string id = framer.boot_id() + "-" + std::to_string(seq);

    const auto frame = framer.frame(seq, payload);
    const std::string data = gw::event_data(payload, wrap);
    fuzz_check(*frame == gw::sse::frame_event(id, event, data));

    const std::string stream = gw::sse::preamble(std::chrono::milliseconds(2000)) + std::string(gw::sse::heartbeat) +
                               *frame + std::string(gw::sse::heartbeat);
    const auto seen = gw::fuzz::read_event_stream(stream);
    fuzz_check(seen.events.size() == 1);
    fuzz_check(seen.events[0].type == event);
    fuzz_check(seen.events[0].last_event_id == id);
    fuzz_check(seen.events[0].data == browser_lines(data));
    fuzz_check(seen.retry == "2000");

    // What the page does with it: JSON.parse, then read the fields.
    rapidjson::Document doc;
    parse_as_json_parse(doc, seen.events[0].data);
    fuzz_check(!doc.HasParseError() && doc.IsObject());
    if (data != payload) {
        // Wrapped: exactly one member, the wrap field, holding the payload's bytes.
        fuzz_check(doc.MemberCount() == 1);
        const auto& m = *doc.MemberBegin();
        fuzz_check(std::string_view(m.name.GetString(), m.name.GetStringLength()) == wrap);
        fuzz_check(m.value.IsString() && std::string_view(m.value.GetString(), m.value.GetStringLength()) == payload);
    }

    const auto twice = gw::fuzz::read_event_stream(*frame + *framer.frame(seq + 1, payload));
    fuzz_check(twice.events.size() == 2);
    fuzz_check(twice.events[1].last_event_id == framer.boot_id() + "-" + std::to_string(seq + 1));

    check_user(payload, "user");
    if (payload.size() <= 64) check_namer(payload);
    if (flags & 1) check_user(payload, wrap);
}

// "<event>\n<wrap>\n": each as --event and --wrap-field accept it (one line, not empty).
bool take_line(std::string_view& in, std::string_view& out) {
    const auto nl = in.find('\n');
    if (nl == std::string_view::npos) return false;
    out = in.substr(0, nl);
    in.remove_prefix(nl + 1);
    return !out.empty() && gw::sse::is_single_line(out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t flags = data[0];
    auto rest = as_text(data + 1, size - 1);
    std::string_view event, wrap;
    if ((flags & 1) && (!take_line(rest, event) || !take_line(rest, wrap))) return -1;
    // PostgreSQL refuses NOTIFY payloads of 8000 bytes or more, and any NUL byte.
    if (rest.size() >= 8000 || rest.find('\0') != std::string_view::npos) return -1;
    check(flags, event, wrap, rest);
    return 0;
}
