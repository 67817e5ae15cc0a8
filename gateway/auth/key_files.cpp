#include "auth/key_files.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace gw::auth::key_files {

namespace {

// "--flag: cannot read 'path'", or "--flag: 'path' <why>".
[[noreturn]] void fail(std::string_view flag, const std::string& path, std::string_view why) {
    const std::string head = "--" + std::string(flag) + ": ";
    if (why == "cannot read") throw std::invalid_argument(head + "cannot read '" + path + "'");
    throw std::invalid_argument(head + "'" + path + "' " + std::string(why));
}

}  // namespace

std::string read_file(const std::string& path, std::string_view flag) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(flag, path, "cannot read");
    // Read at most one byte past the limit, so a huge file costs no more than that.
    std::string text(max_file_size + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (in.bad()) fail(flag, path, "cannot read");
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_file_size) fail(flag, path, "is larger than 1 MiB");
    if (text.empty()) fail(flag, path, "is empty");
    return text;
}

std::vector<std::string> secret_lines(std::string_view text) {
    std::vector<std::string> out;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        auto line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        const auto b = line.find_first_not_of(" \t\r");
        if (b == std::string_view::npos) continue;
        const auto e = line.find_last_not_of(" \t\r");
        out.emplace_back(line.substr(b, e - b + 1));
    }
    return out;
}

std::vector<std::string> read_secrets(const std::string& path, std::string_view flag) {
    auto secrets = secret_lines(read_file(path, flag));
    if (secrets.empty()) fail(flag, path, "holds no secret (only blank lines)");
    return secrets;
}

std::vector<named_text> read_file_or_directory(const std::string& path, std::string_view flag) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(path, ec)) return {{path, read_file(path, flag)}};
    std::vector<std::string> names;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
        const auto name = it->path().filename().string();
        std::error_code type_ec;
        if (name.empty() || name.front() == '.' || !fs::is_regular_file(it->path(), type_ec)) continue;
        names.push_back(it->path().string());
    }
    if (ec) fail(flag, path, "cannot be listed");
    if (names.empty()) fail(flag, path, "is a directory without key files");
    std::sort(names.begin(), names.end());
    std::vector<named_text> out;
    for (auto& n : names) {
        auto text = read_file(n, flag);
        out.push_back({std::move(n), std::move(text)});
    }
    return out;
}

}  // namespace gw::auth::key_files
