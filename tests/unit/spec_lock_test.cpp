#include "taskrunner/spec/lock.hpp"

#include <gtest/gtest.h>

using namespace taskrunner::spec;

namespace {

const std::string kSixSha = "3bbecf405788d18c3bce68e7e8c18a7228b5572e9933c7bb2aae3b8680591ea1";
const std::string kIdnaSha = "ec93867f2efbd290e5a4b8fcc6fd7673be12ce0e517ef889a7c8eb9981392273";

}  // namespace

TEST(ParseLock, ReadsUvCompileOutputAndItsOwnRendering) {
  // `uv pip compile --generate-hashes --no-header --no-annotate` writes continuation lines.
  const std::string uv = "six==1.16.0 \\\n    --hash=sha256:" + kSixSha +
                         "\nIDNA==3.3 \\\n    --hash=sha256:" + kIdnaSha + "\n";
  const auto lock = parse_lock(uv);
  ASSERT_TRUE(lock) << lock.error();
  ASSERT_EQ(lock->distributions.size(), 2U);
  EXPECT_EQ(lock->distributions[0].name, "idna");  // PEP 503 normalised, sorted
  EXPECT_EQ(lock->distributions[1].version, "1.16.0");
  auto with_header = *lock;
  with_header.header.python = "3.11.2";
  with_header.header.platform = "x86_64-linux";
  with_header.header.resolved_at = "2026-12-01T22:00:00Z";
  with_header.header.resolver = "uv pip compile";
  const auto again = parse_lock(render_lock(with_header));
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->header.python, "3.11.2");
  EXPECT_EQ(again->header.platform, "x86_64-linux");
  EXPECT_EQ(again->header.resolver, "uv pip compile");
  EXPECT_EQ(lock_digest(*again), lock_digest(*lock));  // the header is not part of the digest
}

TEST(ParseLock, RefusesWhatIsNotAPinnedFile) {
  const std::string h = " --hash=sha256:" + kSixSha;
  for (const std::string& bad : std::vector<std::string>{
           "six>=1.0" + h, "six" + h, "six==1.16.0", "six[x]==1.16.0" + h,
           "six==1.16.0; python_version>'3'" + h, "six==1.16.0 --hash=md5:0123456789abcdef",
           "six==1.16.0 --hash=sha256:abc", "six==1.16.0" + h + "\nSix==1.16.0" + h, "-e ." + h,
           "six @ https://example.org/six.whl" + h, "six==1.0 $(id)" + h}) {
    EXPECT_FALSE(parse_lock(bad)) << bad;
  }
  EXPECT_FALSE(parse_lock(std::string(kMaxLockBytes + 1, '#')));
}

TEST(SameResolution, ComparesPinsNotHashesOrHeaders) {
  auto a = *parse_lock("six==1.16.0 --hash=sha256:" + kSixSha);
  auto b = *parse_lock("# python: 3.11\nsix==1.16.0 --hash=sha256:" + kIdnaSha);
  EXPECT_TRUE(same_resolution(a, b));
  EXPECT_NE(lock_digest(a), lock_digest(b));
  EXPECT_FALSE(same_resolution(a, *parse_lock("six==1.17.0 --hash=sha256:" + kSixSha)));
}

TEST(LockMismatch, MajorMinorAndPlatform) {
  const auto lock = *parse_lock(
      "# python: 3.11.2\n# platform: x86_64-linux\nsix==1.16.0 --hash=sha256:" + kSixSha);
  EXPECT_EQ(lock_mismatch(lock, "3.11.9", "x86_64-linux"), std::nullopt);
  EXPECT_NE(lock_mismatch(lock, "3.12.1", "x86_64-linux"), std::nullopt);
  EXPECT_NE(lock_mismatch(lock, "3.1.1", "x86_64-linux"), std::nullopt);
  EXPECT_NE(lock_mismatch(lock, "3.11.2", "aarch64-linux"), std::nullopt);
  EXPECT_EQ(lock_mismatch(*parse_lock("six==1.16.0 --hash=sha256:" + kSixSha), "2.7", "x"),
            std::nullopt);  // no header: nothing to compare
}
