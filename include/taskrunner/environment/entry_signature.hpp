#pragma once
// Signed environment-cache entries (docs/security.md "Signed entries"): with
// TASKRUNNER_CACHE_KEY_FILE, every manifest carries an HMAC-SHA256 (RFC 2104) under that key over
// what the entry serves — the archive's sha256 and size (snapshot) or a digest of the venv's file
// list with sizes (in place), the lock's sha256, the key, mode and venv path. Whoever can write
// the volume but not read the key cannot make an entry that verifies.
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "taskrunner/util/result.hpp"

namespace taskrunner::environment {

/// Largest key file read (bytes); an empty one is refused.
inline constexpr std::size_t kMaxCacheKeyBytes = 4096;

/// Reads the key file: a regular file (not a symlink), 1 … kMaxCacheKeyBytes bytes; its bytes
/// are the key as they are. Fails with the errno message naming the path.
util::Result<std::string> read_cache_key(const std::filesystem::path& path);

/// sha256 hex over the venv's tree, sorted by path: one line per entry, "f <path> <size> <mode>"
/// for files, "d <path> <mode>" for directories, "l <path> <target>" for symlinks (lstat, never
/// followed). Appending to, adding, removing or re-pointing anything changes it.
std::string tree_digest(const std::filesystem::path& venv);

/// The MAC of `manifest` (hex): HMAC-SHA256 under `key` of the canonical JSON of its fields
/// format, key, mode, venv_path, archive.sha256, archive.bytes, venv_tree, lock.sha256 (missing
/// ones as null). `manifest["mac"]` itself is not covered.
std::string entry_mac(std::string_view key, const nlohmann::json& manifest);

/// Checks an entry before it is used: the manifest's `mac` must equal entry_mac(), and for an
/// in-place entry the venv's tree_digest() now must equal the manifest's `venv_tree`. Returns
/// why it does not verify ("unsigned", "MAC does not verify", "the venv changed since it was
/// published") as the failure.
util::Status verify_entry(std::string_view key, const nlohmann::json& manifest,
                          const std::filesystem::path& venv_path, bool in_place);

}  // namespace taskrunner::environment
