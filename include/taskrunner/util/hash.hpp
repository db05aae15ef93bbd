#pragma once
// SHA-256 (FIPS 180-4) through nettle, which the static binary already links for libarchive.
#include <string>
#include <string_view>

namespace taskrunner::util {

/// Lower-case hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

}  // namespace taskrunner::util
