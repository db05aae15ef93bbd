#include "taskrunner/util/time.hpp"

#include <ctime>
#include <regex>

namespace taskrunner::util {
namespace {

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text) {
  static const std::regex kRfc3339(
      R"(^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$)");
  std::smatch m;
  if (!std::regex_match(text, m, kRfc3339)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  const int year = tm.tm_year + 1900;
  // Month 00 (tm_mon -1) indexed before kDays: found by tests/fuzz/fuzz_number.
  if (year < 1970 || year > kMaxYear || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
      tm.tm_mday > days_in_month(year, tm.tm_mon + 1) || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return std::nullopt;
  }
  auto t = std::chrono::system_clock::from_time_t(::timegm(&tm));
  if (m[7].matched) {
    // The fraction's first four digits, rounded to milliseconds; never std::stod, which throws
    // out_of_range for a long run of zeros before a digit (underflow: found by
    // tests/fuzz/fuzz_number, corpus/fuzz_number/regression-long-fraction).
    std::string digits = m[7].str().substr(1, 4);
    digits.resize(4, '0');
    t += std::chrono::milliseconds((std::stoi(digits) + 5) / 10);
  }
  if (m[9].matched) {
    // RFC 3339 section 5.6: time-numoffset hours 00-23, minutes 00-59.
    if (std::stoi(m[10]) > 23 || std::stoi(m[11]) > 59) return std::nullopt;
    const auto offset =
        std::chrono::hours(std::stoi(m[10])) + std::chrono::minutes(std::stoi(m[11]));
    t += (m[9] == "+") ? -offset : offset;  // local = UTC + offset
  }
  return t;
}

}  // namespace taskrunner::util
