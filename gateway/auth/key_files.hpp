#pragma once
// Credentials read from files, as Kubernetes mounts a Secret: a secret per line, or
// PEM keys in a file or a directory. Every error is a std::invalid_argument whose
// message names the flag and the path (and a line number where one helps), never
// a byte of the file: these messages reach logs and stderr.
//
// Only regular files are read (symbolic links followed). A FIFO, a device, a socket
// or a directory where a file is expected is refused by name, and never waited on:
// files are opened non-blocking, so a FIFO with no writer cannot stall the
// credentials thread. A file is read by its size, up to max_file_size, and all the
// files of one load together up to max_set_size (a read_budget).
// Thread rule: pure functions of the file system; any thread.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw::auth::key_files {

// Larger files are refused: a credential file is a few lines, and a reload must not
// be a way to make the gateway read a disk image.
inline constexpr std::size_t max_file_size = 1024 * 1024;
// What one load (every credential flag's files together) may read in all.
inline constexpr std::size_t max_set_size = 4 * 1024 * 1024;

// The bytes one load may still read; each file read takes its size from it.
struct read_budget {
    std::size_t left = max_set_size;
};

// The whole file. Throws when it cannot be read, is not a regular file, is empty,
// is over max_file_size, or would take the budget past max_set_size.
std::string read_file(const std::string& path, std::string_view flag, read_budget& budget);
std::string read_file(const std::string& path, std::string_view flag);  // with a budget of its own

struct secret_line {
    std::string text;
    std::size_t line = 0;  // 1-based, in the file

    bool operator==(const secret_line&) const = default;
};

// The secrets in text, one per line: spaces, tabs and a CR around each are trimmed,
// blank lines and comments (lines whose first non-blank byte is '#') skipped. The
// first is the current one; order is kept.
std::vector<secret_line> secret_lines(std::string_view text);

// read_file + secret_lines; throws when the file holds no secret.
std::vector<secret_line> read_secrets(const std::string& path, std::string_view flag, read_budget& budget);

struct named_text {
    std::string path;
    std::string text;
};

// A file, or each regular file of a directory (symbolic links followed) in name
// order, skipping names that start with '.' (Kubernetes' ..data bookkeeping) and
// entries that are not regular files. Throws when the path cannot be read or a
// directory holds no file.
std::vector<named_text> read_file_or_directory(const std::string& path, std::string_view flag, read_budget& budget);

}  // namespace gw::auth::key_files
