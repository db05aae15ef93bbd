#pragma once
// Timestamps.
#include <chrono>
#include <optional>
#include <string>

namespace taskrunner::util {

/// Latest year parse_rfc3339 accepts.
inline constexpr int kMaxYear = 2200;

/// Parses an RFC 3339 timestamp ("2026-11-22T03:17:45Z", "…45.5+01:00"; RFC 3339 section 5.6)
/// to a UTC time point (millisecond precision). nullopt if malformed, not a real calendar date
/// (2026-02-30), or outside 1970 … kMaxYear (system_clock's nanoseconds end in 2262).
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text);

}  // namespace taskrunner::util
