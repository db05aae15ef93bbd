#include "taskrunner/environment/resolved_lock.hpp"

#include <gtest/gtest.h>

using namespace taskrunner;

namespace {

const std::string kSixSha = "3bbecf405788d18c3bce68e7e8c18a7228b5572e9933c7bb2aae3b8680591ea1";
const std::string kIdnaSha = "ec93867f2efbd290e5a4b8fcc6fd7673be12ce0e517ef889a7c8eb9981392273";

}  // namespace

TEST(LockFromPipReport, HashesOfTheDownloadedFiles) {
  const std::string report = R"({"version": "1", "install": [
    {"metadata": {"name": "six", "version": "1.16.0"},
     "download_info": {"url": "http://i/six.whl", "archive_info": {"hashes": {"sha256": ")" +
                             kSixSha + R"("}}}},
    {"metadata": {"name": "idna", "version": "3.3"},
     "download_info": {"url": "http://i/idna.whl", "archive_info": {"hash": "sha256=)" +
                             kIdnaSha + R"("}}}]})";
  const auto lock = environment::lock_from_pip_report(report);
  ASSERT_TRUE(lock) << lock.error();
  ASSERT_EQ(lock->distributions.size(), 2U);
  EXPECT_EQ(lock->distributions[1].hashes, std::vector<std::string>{"sha256:" + kSixSha});
  EXPECT_EQ(lock->distributions[0].hashes, std::vector<std::string>{"sha256:" + kIdnaSha});
}

TEST(LockFromPipReport, RefusesItemsWithoutAFileHash) {
  for (const std::string& bad : std::vector<std::string>{
           std::string(R"({"install": [{"metadata": {"name": "x", "version": "1"},
                        "download_info": {"url": "file:///src/x", "dir_info": {}}}]})"),
           std::string(R"({"install": [{"metadata": {"name": "x"}}]})"),
           std::string(R"({"install": [{"name": "x"}, 7]})"),
           std::string(R"({"install": [{"metadata": {"name": "x", "version": "1"},
                        "download_info": {"archive_info": "sha256"}}]})"),
           std::string("[]"), std::string("not json"),
           std::string(R"({"install": [{"metadata": {"name": "x; rm", "version": "1"},
           "download_info": {"archive_info": {"hashes": {"sha256": ")") +
               kSixSha + R"("}}}}]})"}) {
    EXPECT_FALSE(environment::lock_from_pip_report(bad)) << bad;
  }
}
