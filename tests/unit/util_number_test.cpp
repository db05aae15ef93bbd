#include "taskrunner/util/number.hpp"

#include <gtest/gtest.h>

#include "taskrunner/util/time.hpp"

using namespace taskrunner::util;

TEST(ParseSecondsMs, PlainDecimalsInRange) {
  EXPECT_EQ(*parse_seconds_ms("30"), 30000);
  EXPECT_EQ(*parse_seconds_ms("2.5"), 2500);
  EXPECT_EQ(*parse_seconds_ms("0.001"), 1);
  EXPECT_EQ(*parse_seconds_ms("10000000"), 10'000'000'000);
  for (const char* bad : {"", "inf", "nan", "1e10", "-1", "+1", "0x10", "1.", ".5", "1.2345",
                          "10000000.5", "99999999999999999999", " 1", "1 "}) {
    EXPECT_FALSE(parse_seconds_ms(bad)) << bad;
  }
  EXPECT_NE(parse_seconds_ms("inf").error().find("from 0 to 10000000"), std::string::npos);
}

TEST(ParseUint, BoundsAndOverflow) {
  EXPECT_EQ(*parse_uint("0", 5), 0U);
  EXPECT_EQ(*parse_uint("5", 5), 5U);
  EXPECT_FALSE(parse_uint("6", 5));
  EXPECT_FALSE(parse_uint("-1", 5));
  EXPECT_FALSE(parse_uint("18446744073709551616", UINT64_MAX));  // 2^64
  EXPECT_EQ(*parse_uint("18446744073709551615", UINT64_MAX), UINT64_MAX);
}

TEST(ParseDecimal, FiniteOnly) {
  EXPECT_DOUBLE_EQ(*parse_decimal("0.04", 10), 0.04);
  for (const char* bad : {"nan", "inf", "1e300", "-1", "11"}) EXPECT_FALSE(parse_decimal(bad, 10));
}

TEST(ParseRfc3339, RealCalendarDatesOnly) {
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z"));   // leap year
  EXPECT_FALSE(parse_rfc3339("2026-02-29T00:00:00Z"));  // not one
  EXPECT_FALSE(parse_rfc3339("2026-02-30T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2026-04-31T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("1900-02-29T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2200-12-31T23:59:59Z"));
  EXPECT_FALSE(parse_rfc3339("9999-12-31T23:59:59Z"));  // past system_clock's range
}
