#pragma once
// The statements of one durable events source (deploy/sql/sse_gateway_events.sql)
// and the values they take: what differs between `source = "table"` and
// `source = "solid-cable"`, so pg::table_reader holds no SQL text of its own.
// Every statement takes its values as text parameters; the reader asks for
// binary results (bytea payloads arrive as their bytes).
//
// Thread rule: immutable after construction; channel_filter is a pure function.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw::pg {

enum class table_source {
    table,        // sse_gateway_events, read with sse_gateway_read
    solid_cable,  // the gem's solid_cable_messages, read with sse_gateway_solid_cable_read
};

class table_sql {
public:
    // Above this many wanted channels the read passes NULL (every channel) and
    // the reader drops the rows of other channels itself: the filter is a scan
    // of the array per candidate row, and parsing a 19,000-element array costs
    // about 50 ms a read, while rows of unwanted channels cost only their bytes.
    static constexpr std::size_t max_sql_channels = 256;

    explicit table_sql(table_source source) : source_(source) {}

    table_source source() const { return source_; }
    // The objects this source needs, one per row, the missing ones named by the
    // first column (no rows: all present).
    const char* missing_objects() const;
    // $1 NULL: the cursor at "now" (the trailer's event_id).
    // $1 cursor, $2 the channel filter (channel_filter), $3 max rows:
    // id, channel, payload, event_id, more; the last row (id NULL) is the trailer.
    const char* read() const;
    // $1 token: one boolean.
    const char* resumable() const;
    // $1 retention in seconds, $2 max rows: the rows deleted (NULL: another replica trims).
    static const char* trim() {
        return "SELECT sse_gateway_trim(make_interval(secs => $1::double precision), $2::int)";
    }

    // The read's $2 for these channels: a text[] literal (table) or a bigint[]
    // of channel hashes (solid cable); nullopt (SQL NULL: every channel) above
    // max_sql_channels.
    template <class Set>
    std::optional<std::string> channel_filter(const Set& channels) const {
        if (channels.size() > max_sql_channels) return std::nullopt;
        std::string out = "{";
        for (const auto& c : channels) {
            if (out.size() > 1) out += ',';
            append_element(out, c);
        }
        out += '}';
        return out;
    }
    // The same for one channel (a resume).
    std::string channel_filter(const std::string& channel) const;

    // SolidCable::Message.channel_hash_for: the first 8 bytes of the channel's
    // SHA-256 as a signed big-endian integer.
    static std::int64_t solid_cable_hash(std::string_view channel);

private:
    void append_element(std::string& out, const std::string& channel) const;

    table_source source_;
};

}  // namespace gw::pg
