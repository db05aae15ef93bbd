// Fuzz target: the strict number, duration and RFC 3339 parsers (util/number.hpp,
// util/time.hpp, report::rfc3339_utc). Values out of their documented bounds must be refused.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "taskrunner/report/checkpoint.hpp"
#include "taskrunner/util/number.hpp"
#include "taskrunner/util/time.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace util = taskrunner::util;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (const auto ms = util::parse_seconds_ms(text, 3600); ms && (*ms < 0 || *ms > 3'600'000)) {
    std::abort();
  }
  if (const auto n = util::parse_uint(text, 1000); n && *n > 1000) std::abort();
  if (const auto d = util::parse_decimal(text, 1.5); d && !(*d >= 0.0 && *d <= 1.5)) std::abort();
  if (const auto t = util::parse_rfc3339(text)) (void)taskrunner::report::rfc3339_utc(*t);
  return 0;
}
