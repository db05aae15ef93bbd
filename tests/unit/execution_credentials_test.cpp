#include "taskrunner/execution/credentials.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "testutil.hpp"

using namespace taskrunner::execution;
using testutil::TempDir;

TEST(ParseRunAs, UidGidOrOff) {
  const auto off = parse_run_as("off");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->has_value());
  const auto one = parse_run_as("4242");
  ASSERT_TRUE(one && one->has_value());
  EXPECT_EQ(to_string(**one), "4242:4242");  // the gid defaults to the uid, never to root's 0
  const auto two = parse_run_as("1000:2000");
  ASSERT_TRUE(two && two->has_value());
  EXPECT_EQ((*two)->gid, 2000U);
  for (const char* bad : {"", "0", "0:1", "1:0", "nobody", "-1", "1:2:3", "4294967295",
                          "65534:", ":65534", "1e3", " 1"}) {
    EXPECT_FALSE(parse_run_as(bad)) << bad;
  }
}

TEST(Unreachable, NamesTheFirstDirectoryTheUidCannotEnter) {
  TempDir t;
  const auto dir = t.path / "a" / "b";
  std::filesystem::create_directories(dir);
  const auto file = dir / "python";
  std::ofstream(file) << "x";
  ::chmod(t.path.c_str(), 0755);
  ::chmod((t.path / "a").c_str(), 0755);
  ::chmod(dir.c_str(), 0755);
  ::chmod(file.c_str(), 0644);
  const Credentials nobody{65534, 65534};
  EXPECT_EQ(unreachable(nobody, file), std::nullopt);
  ::chmod((t.path / "a").c_str(), 0700);
  const auto why = unreachable(nobody, file);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find((t.path / "a").string()), std::string::npos) << *why;
  EXPECT_NE(why->find("0700"), std::string::npos) << *why;
  // The group bits count for the uid's own gid.
  ::chmod((t.path / "a").c_str(), 0710);
  EXPECT_EQ(unreachable(Credentials{65534, ::getgid()}, file), std::nullopt);
  ::chmod((t.path / "a").c_str(), 0755);
  ::chmod(file.c_str(), 0600);
  EXPECT_TRUE(unreachable(nobody, file));
}
