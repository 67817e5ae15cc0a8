#pragma once
// Credentials read from files, as Kubernetes mounts a Secret: a secret per line, or
// PEM keys in a file or a directory. Every error is a std::invalid_argument whose
// message names the flag and the path (and a line number where one helps), never
// a byte of the file: these messages reach logs and stderr.
// Thread rule: pure functions of the file system; any thread.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw::auth::key_files {

// Larger files are refused: a credential file is a few lines, and a reload must not
// be a way to make the gateway read a disk image.
inline constexpr std::size_t max_file_size = 1024 * 1024;

// The whole file. Throws when it cannot be read, is empty or is over max_file_size.
std::string read_file(const std::string& path, std::string_view flag);

// The secrets in text, one per line: spaces, tabs and a CR around each are trimmed,
// blank lines skipped. The first is the current one; order is kept.
std::vector<std::string> secret_lines(std::string_view text);

// read_file + secret_lines; throws when the file holds no secret.
std::vector<std::string> read_secrets(const std::string& path, std::string_view flag);

struct named_text {
    std::string path;
    std::string text;
};

// A file, or each regular file of a directory (symbolic links followed) in name
// order, skipping names that start with '.' (Kubernetes' ..data bookkeeping).
// Throws when the path cannot be read or a directory holds no file.
std::vector<named_text> read_file_or_directory(const std::string& path, std::string_view flag);

}  // namespace gw::auth::key_files
