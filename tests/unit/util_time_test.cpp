#include "taskrunner/util/time.hpp"

#include <gtest/gtest.h>

using taskrunner::util::parse_rfc3339;

TEST(Time, Rfc3339) {
  const auto t = parse_rfc3339("2023-11-14T22:13:20Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*t), 1700000000);
  EXPECT_EQ(parse_rfc3339("2023-11-14T23:13:20.5+01:00"), *t + std::chrono::milliseconds(500));
  EXPECT_EQ(parse_rfc3339("2023-11-14T20:13:20-02:00"), *t);
  for (const char* bad :
       {"tomorrow", "2023-11-14", "2023-13-14T22:13:20Z", "2023-11-14T22:13:20"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
}

// Found by tests/fuzz/fuzz_number (corpus/fuzz_number/regression-month-zero): month 00 read
// kDays[-1] (UBSan: index -1 out of bounds) — a manifest's resolved_at comes from the shared
// volume.
TEST(Time, Rfc3339RefusesMonthZeroAndOffsetsBeyondTheRfc) {
  for (const char* bad :
       {"1999-00-29T23:59:60Z", "2023-00-01T00:00:00Z", "2023-11-14T22:13:20+24:00",
        "2023-11-14T22:13:20-01:60", "2023-02-29T00:00:00Z"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00+23:59"));
}

// Found by tests/fuzz/fuzz_number (corpus/fuzz_number/regression-long-fraction): a fraction of
// hundreds of zeros and a digit made std::stod throw out_of_range (underflow) and abort.
TEST(Time, Rfc3339FractionsOfAnyLength) {
  const auto t = parse_rfc3339("2023-11-14T22:13:20Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20." + std::string(400, '0') + "1Z"), *t);
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20.123456789Z"), *t + std::chrono::milliseconds(123));
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20.1235Z"), *t + std::chrono::milliseconds(124));
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20.9999Z"), *t + std::chrono::milliseconds(1000));
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20.05Z"), *t + std::chrono::milliseconds(50));
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20.0005Z"), *t + std::chrono::milliseconds(1));
}
