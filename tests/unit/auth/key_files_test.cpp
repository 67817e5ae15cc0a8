#include "auth/key_files.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

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

namespace {

std::vector<std::string> texts(const std::vector<key_files::secret_line>& lines) {
    std::vector<std::string> out;
    for (const auto& l : lines) out.push_back(l.text);
    return out;
}

}  // namespace

TEST_CASE("a secrets file holds one secret per line, trimmed, blank lines skipped, order kept") {
    using v = std::vector<std::string>;
    CHECK(texts(key_files::secret_lines("new\nold\n")) == v{"new", "old"});
    CHECK(texts(key_files::secret_lines("new\r\nold")) == v{"new", "old"});  // CRLF, no final newline
    CHECK(texts(key_files::secret_lines("\n  new \t\n\n\told\n\n")) == v{"new", "old"});
    CHECK(texts(key_files::secret_lines("a secret with spaces inside\n")) == v{"a secret with spaces inside"});
    CHECK(key_files::secret_lines("").empty());
    CHECK(key_files::secret_lines(" \n\r\n\t\n").empty());
}

TEST_CASE("lines starting with # are comments, and each secret knows its line") {
    using l = key_files::secret_line;
    CHECK(key_files::secret_lines("# rotated 2026-01-01, remove the old one after the deploy\nnew\n\n  # old:\nold\n") ==
          std::vector<l>{{"new", 2}, {"old", 5}});
    CHECK(key_files::secret_lines("# only a comment\n\t#another\n").empty());
    CHECK(key_files::secret_lines("not#a comment\n") == std::vector<l>{{"not#a comment", 1}});
}

TEST_CASE("reading secrets refuses a missing, empty or blank file, naming the path but no content") {
    const t::temp_dir dir;
    key_files::read_budget budget;
    CHECK(texts(key_files::read_secrets(dir.write("ok", "s3cret-new\ns3cret-old\n"), "proxy-secret-file", budget)) ==
          std::vector<std::string>{"s3cret-new", "s3cret-old"});

    const auto missing =
        error_of([&] { key_files::read_secrets(dir.path() + "/nope", "proxy-secret-file", budget); });
    CHECK(missing == "--proxy-secret-file: cannot read '" + dir.path() + "/nope'");
    CHECK(error_of([&] {
              key_files::read_secrets(dir.write("empty", ""), "jwt-secret-file", budget);
          }).find("is empty") != std::string::npos);
    const auto blank =
        error_of([&] { key_files::read_secrets(dir.write("blank", "\n  \n# c\n"), "jwt-secret-file", budget); });
    CHECK(blank.find("holds no secret") != std::string::npos);
    CHECK(blank.find("--jwt-secret-file") != std::string::npos);
}

TEST_CASE("anything but a regular file is refused by name, and a FIFO is never waited on") {
    const t::temp_dir dir;
    key_files::read_budget budget;
    const auto fifo = dir.path() + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    std::filesystem::create_symlink(fifo, dir.path() + "/link");
    // Without a writer, a blocking open() of either would never return.
    for (const auto& p : {fifo, dir.path() + "/link"}) {
        const auto e = error_of([&] { key_files::read_secrets(p, "proxy-secret-file", budget); });
        CHECK(e == "--proxy-secret-file: '" + p + "' is not a regular file (a FIFO)");
    }
    CHECK(error_of([&] { key_files::read_file("/dev/null", "jwt-jwks", budget); }).find("(a character device)") !=
          std::string::npos);
    CHECK(error_of([&] { key_files::read_secrets(dir.path(), "jwt-secret-file", budget); })
              .find("is not a regular file (a directory)") != std::string::npos);
    // In a key directory such entries are not key files: skipped, never opened.
    dir.write("keys/a.pem", "A");
    REQUIRE(::mkfifo((dir.path() + "/keys/b.pem").c_str(), 0600) == 0);
    const auto files = key_files::read_file_or_directory(dir.path() + "/keys", "jwt-public-key", budget);
    REQUIRE(files.size() == 1);
    CHECK(files[0].text == "A");
}

TEST_CASE("a file is read by its size, and one load reads at most max_set_size in all") {
    const t::temp_dir dir;
    key_files::read_budget budget;
    CHECK(key_files::read_file(dir.write("small", "abc"), "jwt-jwks", budget) == "abc");
    CHECK(budget.left == key_files::max_set_size - 3);
    const std::string mib(key_files::max_file_size, 'k');
    for (int i = 0; i < 3; ++i) dir.write("set/" + std::to_string(i), mib);
    CHECK(key_files::read_file_or_directory(dir.path() + "/set", "jwt-public-key", budget).size() == 3);
    const auto e = error_of([&] { key_files::read_file(dir.write("one-more", mib), "jwt-jwks", budget); });
    CHECK(e.find("past 4 MiB in all") != std::string::npos);
    CHECK(budget.left == key_files::max_set_size - 3 - 3 * key_files::max_file_size);
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
    key_files::read_budget budget;
    const auto files = key_files::read_file_or_directory(dir.path() + "/keys", "jwt-public-key", budget);
    REQUIRE(files.size() == 3);
    CHECK(files[0].text == "A");
    CHECK(files[1].text == "B");
    CHECK(files[2].text == "C");
    CHECK(files[2].path == dir.path() + "/keys/c.pem");

    const auto one = key_files::read_file_or_directory(dir.path() + "/keys/a.pem", "jwt-public-key", budget);
    REQUIRE(one.size() == 1);
    CHECK(one[0].text == "A");

    std::filesystem::create_directory(dir.path() + "/none");
    CHECK(error_of([&] {
              key_files::read_file_or_directory(dir.path() + "/none", "jwt-public-key", budget);
          }).find("without key files") != std::string::npos);
}
