#include "taskrunner/util/hash.hpp"

#include <nettle/hmac.h>
#include <nettle/memops.h>

#include <array>
#include <cstdint>

namespace taskrunner::util {

Sha256::Sha256() { sha256_init(&ctx_); }

void Sha256::update(const void* data, std::size_t size) {
  sha256_update(&ctx_, size, static_cast<const std::uint8_t*>(data));
}

namespace {

std::string hex(const std::array<std::uint8_t, SHA256_DIGEST_SIZE>& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (const auto b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

}  // namespace

std::string Sha256::hex_digest() {
  std::array<std::uint8_t, SHA256_DIGEST_SIZE> digest{};
  sha256_digest(&ctx_, digest.size(), digest.data());
  return hex(digest);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  hmac_sha256_ctx ctx{};
  hmac_sha256_set_key(&ctx, key.size(), reinterpret_cast<const std::uint8_t*>(key.data()));
  hmac_sha256_update(&ctx, data.size(), reinterpret_cast<const std::uint8_t*>(data.data()));
  std::array<std::uint8_t, SHA256_DIGEST_SIZE> digest{};
  hmac_sha256_digest(&ctx, digest.size(), digest.data());
  return hex(digest);
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && memeql_sec(a.data(), b.data(), a.size()) != 0;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex_digest();
}

}  // namespace taskrunner::util
