#include "auth/key_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <stdexcept>

namespace gw::auth::key_files {

namespace {

// "--flag: cannot read 'path'", or "--flag: 'path' <why>".
[[noreturn]] void fail(std::string_view flag, const std::string& path, std::string_view why) {
    const std::string head = "--" + std::string(flag) + ": ";
    if (why == "cannot read") throw std::invalid_argument(head + "cannot read '" + path + "'");
    throw std::invalid_argument(head + "'" + path + "' " + std::string(why));
}

std::string_view kind_of(mode_t mode) {
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "of another kind";
}

class fd_closer {
public:
    explicit fd_closer(int fd) : fd_(fd) {}
    ~fd_closer() { ::close(fd_); }
    fd_closer(const fd_closer&) = delete;
    fd_closer& operator=(const fd_closer&) = delete;

private:
    int fd_;
};

}  // namespace

std::string read_file(const std::string& path, std::string_view flag, read_budget& budget) {
    // Non-blocking: opening a FIFO without a writer would otherwise wait forever,
    // and every later reload, watch tick and JWKS fetch with it. The type is then
    // checked on what was opened, so a swap after a stat cannot slip one through.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) fail(flag, path, "cannot read");
    const fd_closer closer(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail(flag, path, "cannot read");
    if (!S_ISREG(st.st_mode)) fail(flag, path, "is not a regular file (" + std::string(kind_of(st.st_mode)) + ")");
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size > max_file_size) fail(flag, path, "is larger than 1 MiB");
    if (size > budget.left) fail(flag, path, "takes the credential files past 4 MiB in all");
    // By its size, plus one byte to see a file that grew since the fstat.
    std::string text(size + 1, '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const auto n = ::read(fd, text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(flag, path, "cannot read");
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    if (got > size) fail(flag, path, "changed while it was read");
    text.resize(got);
    if (text.empty()) fail(flag, path, "is empty");
    budget.left -= got;
    return text;
}

std::string read_file(const std::string& path, std::string_view flag) {
    read_budget budget;
    return read_file(path, flag, budget);
}

std::vector<secret_line> secret_lines(std::string_view text) {
    std::vector<secret_line> out;
    for (std::size_t number = 1; !text.empty(); ++number) {
        const auto nl = text.find('\n');
        auto line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        const auto b = line.find_first_not_of(" \t\r");
        if (b == std::string_view::npos || line[b] == '#') continue;
        const auto e = line.find_last_not_of(" \t\r");
        out.push_back({std::string(line.substr(b, e - b + 1)), number});
    }
    return out;
}

std::vector<secret_line> read_secrets(const std::string& path, std::string_view flag, read_budget& budget) {
    auto secrets = secret_lines(read_file(path, flag, budget));
    if (secrets.empty()) fail(flag, path, "holds no secret (only blank lines and comments)");
    return secrets;
}

std::vector<named_text> read_file_or_directory(const std::string& path, std::string_view flag, read_budget& budget) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(path, ec)) return {{path, read_file(path, flag, budget)}};
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
        auto text = read_file(n, flag, budget);
        out.push_back({std::move(n), std::move(text)});
    }
    return out;
}

}  // namespace gw::auth::key_files
