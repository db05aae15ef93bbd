#pragma once
// What starting a tool once told us (an interpreter's sys.executable and version, uv's
// `--version`), remembered per file so that a new pod starts neither: records in the pod's work
// dir and on the environment cache volume, which every pod sees and strangers can write
// (docs/env-cache.md "Layout and atomic publishing").
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace taskrunner::tools {

/// Where records are kept besides the work dir.
struct SharedProbeRecords {
  /// A directory every pod sees, e.g. `<env cache>/interpreters` (docs/env-cache.md): a new
  /// pod, whose work dir is empty, then starts no tool either. nullopt: none.
  std::optional<std::filesystem::path> dir;
  /// TASKRUNNER_CACHE_KEY_FILE's key: records there then carry an HMAC-SHA256 (`mac`) and one
  /// without a valid one is ignored (the volume is shared with strangers).
  std::optional<std::string> signing_key;
};

/// `<path>|<size>|<mtime s.ns>|<ctime s.ns>` of the file `path` names (stat(2), following
/// symlinks), or empty when it cannot be stat()ed. ctime too: a record must not survive a file
/// replaced with its old mtime restored (touch -r, tar -x).
std::string file_identity(const std::filesystem::path& path);

/// The record in `file`: a JSON object read from a regular file (never through a symlink) of at
/// most 64 KiB whose "key" is `key`; nullopt otherwise (missing, unreadable, malformed, another
/// key — an empty `key` never matches).
std::optional<nlohmann::json> read_probe_record(const std::filesystem::path& file,
                                                const std::string& key);

/// `<dir>/<first 32 hex digits of sha256(key)>.json`: the shared record's file for `key`.
std::filesystem::path probe_record_path(const std::filesystem::path& dir, const std::string& key);

/// probe_record_path() in `shared.dir`, which is made if missing; nullopt without a dir or a key,
/// or when the dir is not a real directory (a symlink there is never followed).
std::optional<std::filesystem::path> shared_record_file(const SharedProbeRecords& shared,
                                                        const std::string& key);

/// True when `record` has a string "mac" equal to `expected` (compared in constant time,
/// util::equal_in_constant_time): a signed record (TASKRUNNER_CACHE_KEY_FILE) that verifies.
bool mac_matches(const nlohmann::json& record, const std::string& expected);

}  // namespace taskrunner::tools
