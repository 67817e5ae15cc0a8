#include "auth/request_credentials.hpp"

namespace gw::auth {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            const int hi = hex_value(s[i + 1]);
            const int lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::optional<std::string_view> find_query_param(std::string_view target, std::string_view name) {
    const auto q = target.find('?');
    if (q == std::string_view::npos) return std::nullopt;
    std::string_view query = target.substr(q + 1);
    // A fragment never reaches a server, but a hand-made target might carry one.
    if (const auto h = query.find('#'); h != std::string_view::npos) query = query.substr(0, h);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const auto eq = pair.find('=');
        const std::string_view key = pair.substr(0, eq);
        const auto decoded = percent_decode(key, true);
        if (!decoded || *decoded != name) continue;
        return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    }
    return std::nullopt;
}

std::optional<std::string_view> find_cookie(const http::fields& headers, std::string_view name) {
    const auto range = headers.equal_range(http::field::cookie);
    for (auto it = range.first; it != range.second; ++it) {
        std::string_view rest = it->value();
        while (!rest.empty()) {
            const auto semi = rest.find(';');
            const std::string_view pair = trim(rest.substr(0, semi));
            rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
            const auto eq = pair.find('=');
            if (eq == std::string_view::npos) continue;  // not a name=value pair
            if (trim(pair.substr(0, eq)) != name) continue;
            std::string_view value = trim(pair.substr(eq + 1));
            if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
                value = value.substr(1, value.size() - 2);
            return value;
        }
    }
    return std::nullopt;
}

std::optional<std::string_view> find_bearer_token(const http::fields& headers) {
    const auto it = headers.find(http::field::authorization);
    if (it == headers.end()) return std::nullopt;
    std::string_view v = trim(it->value());
    const auto sp = v.find_first_of(" \t");
    if (sp == std::string_view::npos || !iequals(v.substr(0, sp), "bearer")) return std::nullopt;
    v = trim(v.substr(sp + 1));
    if (v.empty()) return std::nullopt;
    return v;
}

}  // namespace gw::auth
