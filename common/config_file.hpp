#pragma once
// Reads the --config file (TOML) into option values: each top-level key is a
// flag's long name without the dashes, its value written as the flag takes it;
// each [[route]] table is read the same way (proto_docs/routes.md).
// Strings pass as they are, integers in decimal, booleans as true/false, and an
// array of strings or integers as the comma list the flag takes. parse_config()
// applies the values through the same option table as flags and env, below both.
// Thread rule: a pure function of the file's contents.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

struct file_value {
    std::string key;
    std::string value;
    std::uint32_t line = 0;  // where the key is, for error messages
};

// One [[route]] table: its keys as values, and where it starts.
struct route_table {
    std::uint32_t line = 0;
    std::vector<file_value> values;  // in file order
};

struct config_file {
    std::string path;
    std::vector<file_value> values;   // top-level keys, in file order
    std::vector<route_table> routes;  // the [[route]] tables, in file order
};

// Throws config_error with a one-line message naming the file (and the line, where
// the TOML parser or a value says which) when the file cannot be read, is not
// TOML, or holds a value no flag could take.
config_file read_config_file(const std::string& path);
// The same for text already read; `path` only names it in messages.
config_file parse_config_text(std::string_view text, const std::string& path);

}  // namespace gw
