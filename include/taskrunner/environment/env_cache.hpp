#pragma once
// The environment cache (docs/env-cache.md): finished venvs kept under TASKRUNNER_ENV_CACHE by
// key, as a snapshot (tar.zst restored to the same absolute path) or in place (a venv on the
// volume used directly). Entries are published atomically and only whole entries are served.
//
// Layout under the root:
//   envs/<key>-<mode>/manifest.json      the entry; present ⇔ published (renamed in last)
//   envs/<key>-snapshot/venv.tar.zst     a snapshot's archive
//   envs/<key>-<mode>/requirements.lock  the lock the entry was built from (docs/locks.md)
//   envs/<key>-<mode>/hits               one byte per hit (size = hits, mtime = last use)
//   venvs/<key>-<nonce>/                 an in-place venv, built where it stays
//   locks/<key>-<mode>.build             exclusive flock while one runner builds
//   locks/<key>-<mode>.use               shared flock while a runner uses the entry
//   envs/.tmp-*                          temp dirs of publishes; a killed runner leaves these
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "taskrunner/util/lock.hpp"

namespace taskrunner::environment {

enum class EnvMode { off, snapshot, inplace, automatic };

/// "off", "snapshot", "inplace", "auto" (TASKRUNNER_ENV_MODE); nullopt for anything else.
std::optional<EnvMode> parse_env_mode(std::string_view text);
std::string_view name(EnvMode mode);

/// The file system type of `path` from statfs(2): "nfs", "fuse", "cifs", "smb2", "ceph", "9p",
/// "overlay", "tmpfs", "ext4", "xfs", "btrfs", or the hex magic.
std::string filesystem_type(const std::filesystem::path& path);
/// True for file systems where each file access costs a network round trip (nfs, fuse — sshfs,
/// cifs, smb2, ceph, 9p).
bool is_network_filesystem(const std::string& type);

/// `auto`'s rule (docs/env-cache.md "Choosing a mode"): snapshot on a network file system
/// (importing from it pays per-file latency; extracting one archive does not), in place
/// otherwise (local disk or hostPath: nothing to unpack at all).
EnvMode choose_mode(EnvMode requested, const std::filesystem::path& root);

/// The lock an entry was built from (docs/locks.md), as its manifest describes it.
struct EntryLock {
  std::string sha256;  ///< of the requirements.lock file in the entry dir
  std::string digest;  ///< spec::lock_digest(): the pinned files alone
  std::uint64_t distributions = 0;
  bool pinned = false;  ///< built from REQUIREMENTS_LOCK (never re-resolved)
  std::chrono::system_clock::time_point resolved_at;  ///< last resolution (renewed)
};

/// One published entry as read from its manifest.
struct Entry {
  std::string key;
  EnvMode mode = EnvMode::snapshot;
  std::filesystem::path dir;        ///< envs/<key>-<mode>
  std::filesystem::path venv_path;  ///< where the venv is (snapshot: where it is restored)
  nlohmann::json manifest;          ///< the whole manifest (read by `cache status`)
  std::uint64_t bytes = 0;          ///< archive bytes (snapshot) or venv bytes (in place)
  std::string archive_sha256;       ///< snapshot: the archive's sha256 (64 hex digits)
  std::uint64_t hits = 0;
  std::chrono::system_clock::time_point last_used;
  std::optional<EntryLock> lock;  ///< nullopt when the run that built it had no lock
};

/// Paths of one key and mode under `root`.
struct EntryPaths {
  std::filesystem::path dir;
  std::filesystem::path manifest;
  std::filesystem::path archive;
  std::filesystem::path build_lock;
  std::filesystem::path use_lock;
};
EntryPaths entry_paths(const std::filesystem::path& root, const std::string& key, EnvMode mode);

/// The published entry for `key`/`mode`; nullopt when none is published. Everything on the
/// shared volume is untrusted (docs/security.md): fails when the entry dir or its manifest is a
/// symlink, or the manifest is not a valid manifest of this format (wrong types, missing fields,
/// another key or mode, a key that is not 64 hex digits, a snapshot whose archive.bytes differs
/// from the archive file's size or without a 64-digit sha256, an in-place venv_path other than
/// <root>/venvs/<key>-<16 hex>, venv_bytes above kMaxEntryBytes): the caller then rejects the
/// entry and rebuilds. Never throws for what is in the file.
util::Result<std::optional<Entry>> find_entry(const std::filesystem::path& root,
                                              const std::string& key, EnvMode mode);

/// Every published entry under `root`, for `taskrunner cache status` and prune.
std::vector<Entry> list_entries(const std::filesystem::path& root);

/// Records a hit: appends one byte to the entry's `hits` file (also its last-use time).
void record_hit(const Entry& entry);

/// Removes a rejected entry (bad manifest, mismatched or unsafe archive) so it is rebuilt:
/// renamed to envs/.tmp-rejected-… first (atomic for readers), then deleted.
void reject_entry(const std::filesystem::path& root, const std::filesystem::path& dir);

/// Publishes an entry: creates envs/.tmp-<key>-<mode>-<pid>/, lets `fill` put files in it
/// (the snapshot archive), writes manifest.json there, then renames the directory to
/// envs/<key>-<mode> (replacing a rejected leftover). Returns an errno message on failure,
/// leaving only the temp dir.
/// A valid entry of the key that is already there — published meanwhile by a runner the build
/// lock did not exclude, such as one on another node (flock is local to a node on FUSE and some
/// NFS setups: docs/env-cache.md "Two nodes on one volume") — is kept: `fill` is not called
/// (or its result is discarded when the other entry appeared during it, also when the rename
/// loses the race) and `kept_existing` is set; an invalid one is rejected and replaced.
struct Published {
  std::string error;
  std::filesystem::path dir;
  std::uint64_t bytes = 0;     ///< publish_venv(): the entry's size in bytes
  bool kept_existing = false;  ///< another runner's valid entry was there: ours was not published
};
/// `keeps` (if given) decides whether an entry already there counts as valid, beyond its
/// manifest (publish_venv: its signature, with a signing key), so a forged entry is replaced.
Published publish_entry(const std::filesystem::path& root, const std::string& key, EnvMode mode,
                        const nlohmann::json& manifest,
                        const std::function<std::string(const std::filesystem::path& tmp,
                                                        nlohmann::json& manifest)>& fill,
                        const std::function<bool(const Entry& existing)>& keeps = {});

/// The lock stored with an entry: requirements.lock's text and what the manifest says of it.
struct LockToPublish {
  std::string text;
  std::string digest;
  std::size_t distributions = 0;
  bool pinned = false;
  std::string resolved_at;  ///< RFC 3339 UTC
};

/// Publishes the finished `venv` as the entry for `key`/`mode` (snapshot or inplace) through
/// publish_entry(): the manifest (format kEnvFormat, key, mode, venv path, creation time,
/// `inputs_json` — what the key hashes — and, for a snapshot, the archive's name, bytes and
/// sha256 written by write_snapshot(), else the venv's bytes; with a `lock`, `lock` {file,
/// sha256, digest, distributions, pinned} and `resolved_at`, the file beside it; with a
/// `signing_key` (TASKRUNNER_CACHE_KEY_FILE), in place `venv_tree` = tree_digest() and, last,
/// `mac` = entry_mac(), entry_signature.hpp) is written only here and read only by find_entry().
/// `Published::bytes` is the entry's size (archive or venv bytes); on failure `error` is set and
/// nothing is published.
Published publish_venv(const std::filesystem::path& root, const std::string& key, EnvMode mode,
                       const std::filesystem::path& venv, const std::string& inputs_json,
                       const std::optional<LockToPublish>& lock = std::nullopt,
                       const std::optional<std::string>& signing_key = std::nullopt);

/// The entry's requirements.lock, checked against the manifest's sha256 (the volume is shared:
/// a changed file is refused, naming the path). Fails when the entry has no lock.
util::Result<std::string> read_entry_lock(const Entry& entry);

/// Renews the entry's resolution time (`resolved_at` = `now`) after a re-resolution found the
/// same lock: the manifest is rewritten atomically (temp file + rename in the entry dir).
util::Status renew_resolution(const Entry& entry, std::chrono::system_clock::time_point now);

/// A fresh, unused directory venvs/<key>-<nonce> for an in-place build (not created).
std::filesystem::path inplace_venv_dir(const std::filesystem::path& root, const std::string& key);

/// Total size in bytes of regular files under `dir` (symlinks not followed).
std::uint64_t tree_bytes(const std::filesystem::path& dir);

/// What prune did.
struct PruneReport {
  std::vector<std::string> removed;  ///< entry dirs, temp dirs and orphan venvs removed
  std::vector<std::string> kept_in_use;
  std::vector<std::string> refused;  ///< why nothing was pruned (a symlinked cache dir)
  std::uint64_t freed_bytes = 0;
  std::uint64_t remaining_bytes = 0;
};

/// Largest in-place venv size a manifest may claim (256 GiB); more is an invalid manifest.
inline constexpr std::uint64_t kMaxEntryBytes = std::uint64_t{256} << 30;

/// Least-recently-used pruning: removes temp dirs and orphaned in-place venvs whose builder is
/// gone (build lock free), entries unused for longer than `max_age`, then the least recently
/// used entries until the total is at most `max_bytes`. An entry in use (its use lock held by a
/// runner) is never removed.
PruneReport prune(const std::filesystem::path& root, std::optional<std::uint64_t> max_bytes,
                  std::optional<std::chrono::seconds> max_age);

}  // namespace taskrunner::environment
