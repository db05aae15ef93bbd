#pragma once
// The one strict parser for numbers that come from outside (environment, flags): plain decimal
// only — no sign, exponent, hex, inf or nan — finite, range-checked, overflow-checked.
#include <cstdint>
#include <string_view>

#include "taskrunner/util/result.hpp"

namespace taskrunner::util {

/// Longest duration any knob accepts: 10,000,000 s (about 115 days), far beyond any pod.
inline constexpr std::int64_t kMaxSeconds = 10'000'000;

/// "N" or "N.F" (at most 3 fraction digits) seconds, 0 ≤ value ≤ `max_seconds`, as whole
/// milliseconds. Fails with a sentence naming the accepted form and bound.
Result<std::int64_t> parse_seconds_ms(std::string_view text,
                                      std::int64_t max_seconds = kMaxSeconds);

/// A whole decimal number 0 ≤ value ≤ `max` (digits only, at most 20). Fails with a sentence
/// naming the bound.
Result<std::uint64_t> parse_uint(std::string_view text, std::uint64_t max);

/// "N" or "N.F" (any number of fraction digits up to 6) as a finite double, 0 ≤ value ≤ `max`.
Result<double> parse_decimal(std::string_view text, double max);

}  // namespace taskrunner::util
