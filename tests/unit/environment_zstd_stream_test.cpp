#include "taskrunner/environment/zstd_stream.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include <random>
#include <string>

#include "taskrunner/environment/snapshot.hpp"
#include "testutil.hpp"

namespace {

using taskrunner::environment::sha256_file;
using taskrunner::environment::ZstdFileStream;
using testutil::TempDir;

std::string compress(const std::string& data, int level = 3) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const auto n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  EXPECT_EQ(ZSTD_isError(n), 0U);
  out.resize(n);
  return out;
}

/// Bytes that compress a little (so frames span several reads and blocks).
std::string sample(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 16);
  return s;
}

int open_ro(const std::filesystem::path& p) { return ::open(p.c_str(), O_RDONLY | O_CLOEXEC); }

/// Everything next() hands out, concatenated.
std::string drain(ZstdFileStream& s) {
  std::string out;
  for (auto b = s.next(); !b.empty(); b = s.next()) out.append(b.data(), b.size());
  return out;
}

TEST(ZstdStream, DeliversEveryByteInOrderAndHashesTheWholeFile) {
  TempDir t;
  // Two frames back to back (one stream, RFC 8878 §3.1), over many small blocks and reads.
  // The first frame is more than one read (1 MiB) of compressed bytes.
  const auto a = sample(3'000'001, 1);
  const auto b = sample(777, 2);
  testutil::write_file(t / "x.zst", compress(a) + compress(b, 19));
  ASSERT_GT(std::filesystem::file_size(t / "x.zst"), std::size_t{1} << 20);
  for (const std::size_t block : {std::size_t{1000}, std::size_t{4096}, std::size_t{1} << 20}) {
    ZstdFileStream s(open_ro(t / "x.zst"), t / "x.zst", block, 1);
    EXPECT_EQ(drain(s), a + b) << block;
    const auto d = s.finish();
    ASSERT_TRUE(d) << d.error();
    EXPECT_EQ(d->sha256, *sha256_file(t / "x.zst"));
    EXPECT_EQ(d->bytes, std::filesystem::file_size(t / "x.zst"));
  }
}

TEST(ZstdStream, FinishReadsAndHashesWhatTheConsumerDidNotTake) {
  TempDir t;
  testutil::write_file(t / "x.zst", compress(sample(2'000'000, 3)));
  ZstdFileStream s(open_ro(t / "x.zst"), t / "x.zst", 4096, 2);
  ASSERT_FALSE(s.next().empty());
  const auto d = s.finish();
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->sha256, *sha256_file(t / "x.zst"));
}

TEST(ZstdStream, CorruptAndTruncatedStreamsFailNamingTheFile) {
  TempDir t;
  auto z = compress(sample(500'000, 4));
  auto corrupt = z;
  corrupt[1] = static_cast<char>(corrupt[1] ^ 0x5a);  // the magic number
  testutil::write_file(t / "bad.zst", corrupt);
  ZstdFileStream bad(open_ro(t / "bad.zst"), t / "bad.zst");
  (void)drain(bad);
  EXPECT_TRUE(bad.failed());
  const auto b = bad.finish();
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().find("bad.zst: zstd: "), std::string::npos) << b.error();

  testutil::write_file(t / "cut.zst", z.substr(0, z.size() / 2));
  ZstdFileStream cut(open_ro(t / "cut.zst"), t / "cut.zst");
  const auto c = cut.finish();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().find("cut.zst: truncated zstd stream"), std::string::npos) << c.error();

  testutil::write_file(t / "empty.zst", "");
  ZstdFileStream empty(open_ro(t / "empty.zst"), t / "empty.zst");
  EXPECT_FALSE(empty.finish());
}

TEST(ZstdStream, AnUnreadableFileFailsWithItsErrno) {
  TempDir t;
  // A directory opens but cannot be read: EISDIR.
  ZstdFileStream s(::open(t.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), t.path);
  const auto r = s.finish();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().err, EISDIR);
  EXPECT_NE(r.error().find("cannot read"), std::string::npos) << r.error();
}

TEST(ZstdStream, DestroyingItMidStreamStopsTheThread) {
  TempDir t;
  testutil::write_file(t / "x.zst", compress(sample(4'000'000, 5)));
  for (int i = 0; i < 20; ++i) {
    ZstdFileStream s(open_ro(t / "x.zst"), t / "x.zst", 4096, 1);
    if (i % 2 == 1) (void)s.next();
  }  // the destructor cancels a producer blocked on a full queue: the test ends, no hang
  SUCCEED();
}

}  // namespace
