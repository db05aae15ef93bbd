#include "taskrunner/environment/entry_signature.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "taskrunner/util/hash.hpp"
#include "testutil.hpp"

using namespace taskrunner;
using testutil::TempDir;

TEST(Hmac, Rfc4231TestCase2) {
  EXPECT_EQ(util::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_TRUE(util::equal_in_constant_time("abc", "abc"));
  EXPECT_FALSE(util::equal_in_constant_time("abc", "abd"));
  EXPECT_FALSE(util::equal_in_constant_time("abc", "ab"));
}

TEST(EntrySignature, TreeDigestSeesAddedResizedAndRepointedFiles) {
  TempDir t;
  std::filesystem::create_directories(t.path / "lib");
  std::ofstream(t.path / "lib" / "six.py") << "x = 1\n";
  std::filesystem::create_symlink("/usr/bin/python3", t.path / "python");
  const auto d0 = environment::tree_digest(t.path);
  EXPECT_EQ(environment::tree_digest(t.path), d0);
  std::ofstream(t.path / "lib" / "six.py", std::ios::app) << "# poisoned\n";
  const auto d1 = environment::tree_digest(t.path);
  EXPECT_NE(d1, d0);
  std::ofstream(t.path / "lib" / "extra.pth") << "import os\n";
  const auto d2 = environment::tree_digest(t.path);
  EXPECT_NE(d2, d1);
  std::filesystem::remove(t.path / "python");
  std::filesystem::create_symlink("/tmp/evil", t.path / "python");
  EXPECT_NE(environment::tree_digest(t.path), d2);
}

TEST(EntrySignature, MacCoversWhatTheEntryServes) {
  TempDir t;
  nlohmann::json m = {{"format", 2},
                      {"key", std::string(64, 'a')},
                      {"mode", "snapshot"},
                      {"venv_path", "/w/venv"},
                      {"archive", {{"sha256", std::string(64, 'b')}, {"bytes", 10}}},
                      {"created_at", "2026-12-01T00:00:00Z"}};
  m["mac"] = environment::entry_mac("secret", m);
  EXPECT_TRUE(environment::verify_entry("secret", m, "/w/venv", false).ok());
  EXPECT_FALSE(environment::verify_entry("other key", m, "/w/venv", false).ok());
  auto moved = m;
  moved["archive"]["sha256"] = std::string(64, 'c');  // a rebuilt archive, sha256 recomputed
  EXPECT_FALSE(environment::verify_entry("secret", moved, "/w/venv", false).ok());
  auto renewed = m;
  renewed["resolved_at"] = "2026-12-02T00:00:00Z";  // not covered: renewing keeps the MAC
  EXPECT_TRUE(environment::verify_entry("secret", renewed, "/w/venv", false).ok());
  auto odd = m;  // wrong types from the shared volume fail, never throw
  odd["mac"] = 7;
  odd["venv_tree"] = 7;
  EXPECT_NO_THROW(EXPECT_FALSE(environment::verify_entry("secret", odd, t.path, true).ok()));
  odd["mac"] = environment::entry_mac("secret", odd);
  EXPECT_NO_THROW(EXPECT_FALSE(environment::verify_entry("secret", odd, t.path, true).ok()));
  auto unsigned_entry = m;
  unsigned_entry.erase("mac");
  EXPECT_NE(
      environment::verify_entry("secret", unsigned_entry, "/w/venv", false).error.find("unsigned"),
      std::string::npos);
}

TEST(EntrySignature, KeyFileMustBeARegularNonEmptyFile) {
  TempDir t;
  std::ofstream(t.path / "key") << "k";
  EXPECT_TRUE(environment::read_cache_key(t.path / "key"));
  std::ofstream(t.path / "empty").close();
  EXPECT_FALSE(environment::read_cache_key(t.path / "empty"));
  std::filesystem::create_symlink(t.path / "key", t.path / "link");
  EXPECT_FALSE(environment::read_cache_key(t.path / "link"));
  EXPECT_FALSE(environment::read_cache_key(t.path / "missing"));
}
