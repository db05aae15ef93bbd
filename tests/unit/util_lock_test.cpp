#include "taskrunner/util/lock.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "taskrunner/util/hash.hpp"

using namespace taskrunner;
using namespace std::chrono_literals;

TEST(Lock, ExcludesOtherProcessesUntilReleased) {
  const std::filesystem::path path =
      "/tmp/taskrunner-lock-test-" + std::to_string(::getpid()) + ".lock";
  std::optional<util::FileLock> held;
  {
    auto got = util::lock_file(path, 0ms);
    ASSERT_TRUE(got) << got.error();
    held = std::move(*got);
  }
  const pid_t child = ::fork();
  if (child == 0) {
    // Another process: flock locks belong to the open file description, so this one must wait.
    bool waited = false;
    const auto got = util::lock_file(path, 100ms, &waited);
    ::_exit(!got && waited && got.error().find("still locked") != std::string::npos ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  held.reset();  // unlock
  const pid_t again = ::fork();
  if (again == 0) ::_exit(util::lock_file(path, 0ms).ok() ? 0 : 1);
  ::waitpid(again, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::filesystem::remove(path);
}

TEST(Lock, ReportsTheErrnoAndPath) {
  const auto lock = util::lock_file("/nonexistent-dir/x.lock", 0ms);
  ASSERT_FALSE(lock);
  EXPECT_NE(lock.error().find("/nonexistent-dir/x.lock"), std::string::npos);
  EXPECT_NE(lock.error().find("No such file"), std::string::npos);
  EXPECT_EQ(lock.status().err, ENOENT);
}

TEST(Hash, Sha256KnownVectors) {
  // FIPS 180-4 examples.
  EXPECT_EQ(util::sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(util::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
