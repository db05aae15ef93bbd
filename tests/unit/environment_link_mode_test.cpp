#include "taskrunner/environment/link_mode.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "testutil.hpp"

using namespace taskrunner::environment;
namespace fs = std::filesystem;

namespace {
/// st_dev of `p`.
dev_t device(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_dev;
}
}  // namespace

TEST(LinkMode, Names) {
  EXPECT_EQ(to_string(LinkMode::clone), "clone");
  EXPECT_EQ(to_string(LinkMode::hardlink), "hardlink");
  EXPECT_EQ(to_string(LinkMode::copy), "copy");
}

TEST(LinkMode, SameFileSystemLinksAndLeavesNothingBehind) {
  testutil::TempDir t;
  fs::create_directories(t / "cache");
  fs::create_directories(t / "work");
  const auto c = choose_link_mode(t / "cache", t / "work");
  // /tmp here is ext4 or overlayfs: hard links; a btrfs or xfs /tmp clones. Never copy.
  EXPECT_NE(c.mode, LinkMode::copy) << c.reason;
  EXPECT_FALSE(c.reason.empty());
  EXPECT_TRUE(fs::is_empty(t / "cache"));
  EXPECT_TRUE(fs::is_empty(t / "work"));
  // A venv parent that does not exist yet is probed at its nearest existing ancestor.
  const auto later = choose_link_mode(t / "cache", t / "work" / "venvs" / "deeper");
  EXPECT_EQ(later.mode, c.mode);
  EXPECT_FALSE(fs::exists(t / "work" / "venvs"));
  EXPECT_TRUE(fs::is_empty(t / "work"));
}

TEST(LinkMode, AcrossFileSystemsCopies) {
  testutil::TempDir t;
  const fs::path shm = "/dev/shm";
  ASSERT_TRUE(fs::is_directory(shm));
  ASSERT_NE(device(shm), device(t.path)) << "/dev/shm and /tmp must be different file systems";
  const auto c = choose_link_mode(t.path, shm);
  EXPECT_EQ(c.mode, LinkMode::copy);
  EXPECT_NE(c.reason.find("different file systems"), std::string::npos) << c.reason;
}

TEST(LinkMode, UnwritableCacheCopiesAndSaysWhy) {
  testutil::TempDir t;
  // A cache path under a regular file cannot hold the probe file.
  testutil::write_file(t / "file", "x");
  const auto c = choose_link_mode(t / "file", t.path);
  EXPECT_EQ(c.mode, LinkMode::copy);
  EXPECT_NE(c.reason.find("link probe"), std::string::npos) << c.reason;
}
