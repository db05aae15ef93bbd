#pragma once
// SHA-256 (FIPS 180-4) through nettle, which the static binary already links for libarchive.
#include <nettle/sha2.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace taskrunner::util {

/// Lower-case hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

/// Lower-case hex HMAC-SHA256 (RFC 2104, FIPS 198-1) of `data` under `key` (64 characters).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

/// Compares two strings in time independent of where they differ (nettle's memeql_sec), for
/// MACs.
bool equal_in_constant_time(std::string_view a, std::string_view b);

/// Incremental SHA-256 for data that arrives in pieces (files, archive streams).
class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  /// Lower-case hex digest of everything passed to update(); call once.
  std::string hex_digest();

 private:
  sha256_ctx ctx_{};
};

}  // namespace taskrunner::util
