#include "pg/table_sql.hpp"

#include <openssl/evp.h>

namespace gw::pg {

const char* table_sql::missing_objects() const {
    // to_regclass/to_regprocedure resolve through the search_path, as the reads do.
    if (source_ == table_source::table)
        return "SELECT name FROM (VALUES"
               " ('table sse_gateway_events', to_regclass('sse_gateway_events') IS NOT NULL),"
               " ('function sse_gateway_read(text, text[], integer)',"
               "  to_regprocedure('sse_gateway_read(text,text[],integer)') IS NOT NULL),"
               " ('function sse_gateway_resumable(text)', to_regprocedure('sse_gateway_resumable(text)') IS NOT NULL),"
               " ('function sse_gateway_trim(interval, integer)',"
               "  to_regprocedure('sse_gateway_trim(interval,integer)') IS NOT NULL)"
               ") v(name, present) WHERE NOT present";
    return "SELECT name FROM (VALUES"
           " ('table solid_cable_messages', to_regclass('solid_cable_messages') IS NOT NULL),"
           " ('function sse_gateway_solid_cable_read(text, bigint[], integer)',"
           "  to_regprocedure('sse_gateway_solid_cable_read(text,bigint[],integer)') IS NOT NULL),"
           " ('function sse_gateway_solid_cable_resumable(text)',"
           "  to_regprocedure('sse_gateway_solid_cable_resumable(text)') IS NOT NULL)"
           ") v(name, present) WHERE NOT present";
}

const char* table_sql::read() const {
    if (source_ == table_source::table)
        return "SELECT id, channel, payload, event_id, more FROM sse_gateway_read($1, $2::text[], $3::int)";
    return "SELECT id, channel, payload, event_id, more FROM sse_gateway_solid_cable_read($1, $2::bigint[], $3::int)";
}

const char* table_sql::resumable() const {
    if (source_ == table_source::table) return "SELECT sse_gateway_resumable($1)";
    return "SELECT sse_gateway_solid_cable_resumable($1)";
}

std::string table_sql::channel_filter(const std::string& channel) const {
    std::string out = "{";
    append_element(out, channel);
    out += '}';
    return out;
}

void table_sql::append_element(std::string& out, const std::string& channel) const {
    if (source_ == table_source::solid_cable) {
        out += std::to_string(solid_cable_hash(channel));
        return;
    }
    // An array literal element, double-quoted: only '"' and '\' need a backslash.
    out += '"';
    for (char ch : channel) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
    }
    out += '"';
}

std::int64_t table_sql::solid_cable_hash(std::string_view channel) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(channel.data(), channel.size(), md, &n, EVP_sha256(), nullptr);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | md[i];
    return static_cast<std::int64_t>(v);  // two's complement: Ruby's unpack1("q>")
}

}  // namespace gw::pg
