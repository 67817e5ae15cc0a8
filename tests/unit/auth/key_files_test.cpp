#include "auth/key_files.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>

using namespace gw::auth;
namespace t = gw::auth::test;

namespace {

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return {};
}

}  // namespace

TEST_CASE("a secrets file holds one secret per line, trimmed, blank lines skipped, order kept") {
    using v = std::vector<std::string>;
    CHECK(key_files::secret_lines("new\nold\n") == v{"new", "old"});
    CHECK(key_files::secret_lines("new\r\nold") == v{"new", "old"});  // CRLF, no final newline
    CHECK(key_files::secret_lines("\n  new \t\n\n\told\n\n") == v{"new", "old"});
    CHECK(key_files::secret_lines("a secret with spaces inside\n") == v{"a secret with spaces inside"});
    CHECK(key_files::secret_lines("").empty());
    CHECK(key_files::secret_lines(" \n\r\n\t\n").empty());
}

TEST_CASE("reading secrets refuses a missing, empty or blank file, naming the path but no content") {
    const t::temp_dir dir;
    CHECK(key_files::read_secrets(dir.write("ok", "s3cret-new\ns3cret-old\n"), "proxy-secret-file") ==
          std::vector<std::string>{"s3cret-new", "s3cret-old"});

    const auto missing = error_of([&] { key_files::read_secrets(dir.path() + "/nope", "proxy-secret-file"); });
    CHECK(missing == "--proxy-secret-file: cannot read '" + dir.path() + "/nope'");
    CHECK(error_of([&] { key_files::read_secrets(dir.write("empty", ""), "jwt-secret-file"); }).find("is empty") !=
          std::string::npos);
    const auto blank = error_of([&] { key_files::read_secrets(dir.write("blank", "\n  \n"), "jwt-secret-file"); });
    CHECK(blank.find("holds no secret") != std::string::npos);
    CHECK(blank.find("--jwt-secret-file") != std::string::npos);
    // A directory is not a secrets file.
    CHECK(error_of([&] { key_files::read_secrets(dir.path(), "jwt-secret-file"); }).find("cannot read") !=
          std::string::npos);
}

TEST_CASE("a file over 1 MiB is refused without being read whole") {
    const t::temp_dir dir;
    const auto big = dir.write("big", std::string(key_files::max_file_size + 1, 'x'));
    const auto e = error_of([&] { key_files::read_file(big, "jwt-jwks"); });
    CHECK(e.find("larger than 1 MiB") != std::string::npos);
    CHECK(e.find("xxxx") == std::string::npos);
    CHECK(key_files::read_file(dir.write("max", std::string(key_files::max_file_size, 'y')), "jwt-jwks").size() ==
          key_files::max_file_size);
}

TEST_CASE("a key directory yields its regular files in name order, skipping hidden entries") {
    const t::temp_dir dir;
    dir.write("keys/b.pem", "B");
    dir.write("keys/a.pem", "A");
    dir.write("keys/.hidden", "H");
    dir.write("keys/..2024_01_01/c.pem", "C");  // Kubernetes keeps the real files in a hidden directory
    std::filesystem::create_directory_symlink(dir.path() + "/keys/..2024_01_01", dir.path() + "/keys/..data");
    std::filesystem::create_symlink("..data/c.pem", dir.path() + "/keys/c.pem");  // and links them
    const auto files = key_files::read_file_or_directory(dir.path() + "/keys", "jwt-public-key");
    REQUIRE(files.size() == 3);
    CHECK(files[0].text == "A");
    CHECK(files[1].text == "B");
    CHECK(files[2].text == "C");
    CHECK(files[2].path == dir.path() + "/keys/c.pem");

    const auto one = key_files::read_file_or_directory(dir.path() + "/keys/a.pem", "jwt-public-key");
    REQUIRE(one.size() == 1);
    CHECK(one[0].text == "A");

    std::filesystem::create_directory(dir.path() + "/none");
    CHECK(error_of([&] {
              key_files::read_file_or_directory(dir.path() + "/none", "jwt-public-key");
          }).find("without key files") != std::string::npos);
}
