#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <fstream>
#include <thread>

#include "taskrunner/preflight/cache_mounts.hpp"
#include "taskrunner/preflight/disk_space.hpp"
#include "taskrunner/preflight/network.hpp"
#include "taskrunner/preflight/runtime.hpp"

using namespace taskrunner::preflight;
using taskrunner::report::Status;
namespace fs = std::filesystem;

namespace {
fs::path fresh_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("taskrunner-unit-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
void write(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}
}  // namespace

TEST(Runtime, CgroupV2AndV1Fixtures) {
  const auto v2 = fresh_dir("cg2");
  write(v2 / "memory.max", "536870912\n");
  write(v2 / "memory.current", "1024\n");
  auto m = read_cgroup_memory(v2);
  EXPECT_EQ(m.version, 2);
  EXPECT_EQ(m.limit, 536870912U);
  EXPECT_EQ(m.current, 1024U);
  write(v2 / "memory.max", "max\n");
  EXPECT_FALSE(read_cgroup_memory(v2).limit);

  const auto v1 = fresh_dir("cg1");
  write(v1 / "memory" / "memory.limit_in_bytes", "9223372036854771712\n");
  m = read_cgroup_memory(v1);
  EXPECT_EQ(m.version, 1);
  EXPECT_FALSE(m.limit);  // v1's "unlimited"
  write(v1 / "memory" / "memory.limit_in_bytes", "1073741824\n");
  EXPECT_EQ(read_cgroup_memory(v1).limit, 1073741824U);

  EXPECT_EQ(read_cgroup_memory(fresh_dir("cg0")).version, 0);
  const auto o = check_runtime(v2);
  EXPECT_EQ(o.status, Status::ok);
  EXPECT_FALSE(o.detail["pid1"].get<bool>());
  EXPECT_TRUE(o.detail["cgroup"]["memory_limit_bytes"].is_null());
  fs::remove_all(v1);
  fs::remove_all(v2);
}

TEST(CacheMounts, SkippedUsableAndUnusable) {
  const auto work = fresh_dir("cache-work");
  auto c = check_cache_mounts(false, work / "cache", work);
  EXPECT_EQ(c.outcome.status, Status::skipped);
  EXPECT_FALSE(c.usable);

  c = check_cache_mounts(true, work / "cache", work);
  EXPECT_EQ(c.outcome.status, Status::ok);
  EXPECT_TRUE(c.usable);
  EXPECT_TRUE(c.same_filesystem_as_work_dir);
  EXPECT_TRUE(c.outcome.detail["hardlink_works"].get<bool>());
  EXPECT_TRUE(c.outcome.detail["chmod_works"].get<bool>());
  EXPECT_TRUE(c.outcome.detail["flock_works"].get<bool>());
  EXPECT_EQ(c.outcome.detail["mode"], "0755");
  // The probe leaves nothing behind.
  EXPECT_TRUE(fs::is_empty(work / "cache"));
  // /dev/shm is another file system (tmpfs).
  if (fs::is_directory("/dev/shm")) {
    const auto shm = fs::path("/dev/shm") / "taskrunner-unit-cache";
    c = check_cache_mounts(true, shm, work);
    EXPECT_FALSE(c.same_filesystem_as_work_dir);
    fs::remove_all(shm);
  }
  EXPECT_TRUE(fs::is_directory(work / "cache"));

  // A path under a regular file can never be a directory: warn, run without cache.
  write(work / "file", "x");
  c = check_cache_mounts(true, work / "file" / "cache", work);
  EXPECT_EQ(c.outcome.status, Status::warn);
  EXPECT_FALSE(c.usable);
  ASSERT_TRUE(c.outcome.error);
  EXPECT_NE(c.outcome.error->hint.find((work / "file" / "cache").string()), std::string::npos);
  EXPECT_NE(c.outcome.error->message.find("Not a directory"), std::string::npos);
  fs::remove_all(work);
}

TEST(DiskSpace, ThresholdsFailAndWarn) {
  const auto work = fresh_dir("disk");
  EXPECT_EQ(check_disk_space(work, work, 1).status, Status::ok);
  const auto o = check_disk_space(work, std::nullopt, ~0ULL);
  EXPECT_EQ(o.status, Status::failed);
  ASSERT_TRUE(o.error);
  EXPECT_NE(o.error->message.find("MiB needed"), std::string::npos);
  EXPECT_EQ(check_disk_space(work / "missing", std::nullopt, 1).status, Status::failed);
  fs::remove_all(work);
}

TEST(Network, SkippedConnectedRefusedAndBadUrl) {
  EXPECT_EQ(check_network(false, "http://127.0.0.1:1/simple", std::chrono::seconds(1)).status,
            Status::skipped);

  boost::asio::io_context ctx;
  boost::asio::ip::tcp::acceptor acceptor(
      ctx, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  const auto port = std::to_string(acceptor.local_endpoint().port());
  // https: TCP only (no TLS client here), so a listening socket is enough.
  auto o =
      check_network(true, "https://user:pw@127.0.0.1:" + port + "/simple", std::chrono::seconds(3));
  EXPECT_EQ(o.status, Status::ok);
  EXPECT_EQ(o.detail["address"], "127.0.0.1");
  EXPECT_EQ(o.detail["index_url"], "https://***@127.0.0.1:" + port + "/simple");

  // http: one GET of the index page; a 404 means the URL path is wrong.
  std::thread server([&] {
    // The https check's connection is still in the backlog: skip connections that send nothing.
    boost::asio::ip::tcp::socket s(ctx);
    boost::asio::streambuf request;
    for (;;) {
      s = boost::asio::ip::tcp::socket(ctx);
      acceptor.accept(s);
      boost::system::error_code ec;
      boost::asio::read_until(s, request, "\r\n\r\n", ec);
      if (!ec) break;
    }
    std::istream in(&request);
    std::string method;
    std::string target;
    in >> method >> target;
    const std::string reply = target == "/simple/"
                                  ? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                                  : "HTTP/1.1 500 Wrong Target\r\nContent-Length: 0\r\n\r\n";
    boost::asio::write(s, boost::asio::buffer(reply));
  });
  o = check_network(true, "http://127.0.0.1:" + port + "/simple", std::chrono::seconds(3));
  server.join();
  EXPECT_EQ(o.status, Status::failed);
  EXPECT_EQ(o.detail["http_status"], 404);
  EXPECT_EQ(o.detail["failure"], "index_not_found");
  acceptor.close();

  o = check_network(true, "http://127.0.0.1:" + port + "/simple", std::chrono::seconds(3));
  EXPECT_EQ(o.status, Status::failed);
  ASSERT_TRUE(o.error);
  EXPECT_NE(o.error->message.find("refused"), std::string::npos);

  o = check_network(true, "gopher://x", std::chrono::seconds(1));
  EXPECT_EQ(o.status, Status::failed);
}
