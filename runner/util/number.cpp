#include "taskrunner/util/number.hpp"

#include <charconv>
#include <cmath>
#include <string>

namespace taskrunner::util {
namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

/// Splits "N.F" into N and F; false when the shape is not digits[.digits].
bool split_decimal(std::string_view text, std::string_view& whole, std::string_view& frac,
                   std::size_t max_frac) {
  const auto dot = text.find('.');
  whole = text.substr(0, dot);
  frac = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (!all_digits(whole) || whole.size() > 15) return false;
  if (dot != std::string_view::npos && (!all_digits(frac) || frac.size() > max_frac)) return false;
  return true;
}

}  // namespace

Result<std::uint64_t> parse_uint(std::string_view text, std::uint64_t max) {
  const auto bad = [&] {
    return Result<std::uint64_t>::fail("'" + std::string(text) +
                                       "' is not a whole number from 0 to " + std::to_string(max));
  };
  if (!all_digits(text) || text.size() > 20) return bad();
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v > max) return bad();
  return v;
}

Result<std::int64_t> parse_seconds_ms(std::string_view text, std::int64_t max_seconds) {
  std::string_view whole;
  std::string_view frac;
  const auto bad = [&] {
    return Result<std::int64_t>::fail("'" + std::string(text) +
                                      "' is not a number of seconds from 0 to " +
                                      std::to_string(max_seconds) + " (e.g. 30 or 2.5)");
  };
  if (!split_decimal(text, whole, frac, 3)) return bad();
  std::int64_t s = 0;
  if (std::from_chars(whole.data(), whole.data() + whole.size(), s).ec != std::errc() ||
      s > max_seconds) {
    return bad();
  }
  std::int64_t ms = 0;
  for (std::size_t i = 0; i < 3; ++i) ms = ms * 10 + (i < frac.size() ? frac[i] - '0' : 0);
  if (s == max_seconds && ms > 0) return bad();
  return s * 1000 + ms;
}

Result<double> parse_decimal(std::string_view text, double max) {
  std::string_view whole;
  std::string_view frac;
  const auto bad = [&] {
    return Result<double>::fail("'" + std::string(text) + "' is not a decimal number from 0 to " +
                                std::to_string(static_cast<long long>(max)));
  };
  if (!split_decimal(text, whole, frac, 6)) return bad();
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v) || v > max) {
    return bad();
  }
  return v;
}

}  // namespace taskrunner::util
