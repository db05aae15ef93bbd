#pragma once
// Snapshots of a finished venv: a pax tar compressed with zstd, written and read with libarchive
// (only the tar format and the zstd filter are linked; see README "Static binary").
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "taskrunner/util/result.hpp"

namespace taskrunner::environment {

/// What a snapshot holds.
struct SnapshotInfo {
  std::uint64_t archive_bytes = 0;  ///< size of the .tar.zst file
  std::uint64_t content_bytes = 0;  ///< sum of the regular files' sizes
  std::uint64_t entries = 0;        ///< files, directories and symlinks
  std::string sha256;               ///< of the .tar.zst file (hex)
};

/// Writes every file, directory and symlink under `dir` (symlinks are stored, never followed;
/// paths relative to `dir`) to `archive` (created with O_CLOEXEC, mode 0644), zstd level
/// `level`. Returns the archive's SnapshotInfo; fails with libarchive's message or the errno
/// text, naming the path.
util::Result<SnapshotInfo> write_snapshot(const std::filesystem::path& dir,
                                          const std::filesystem::path& archive, int level = 3);

/// Extracts `archive` into `target` (created; must not exist) while hashing the archive bytes
/// as they are read — reading, hashing and zstd decompression on a thread of their own
/// (ZstdFileStream), the files written on the calling thread. Entries with absolute paths or ".."
/// components (our check, and libarchive's ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS,
/// _SECURE_NODOTDOT), and entries or hard-link targets at or below a symlink the restore created
/// earlier — the only symlinks in a new target — are refused (what _SECURE_SYMLINKS refuses,
/// without its lstat of every path component). The whole archive is read, and its sha256 and size
/// must equal `expected_sha256` / `expected_bytes` (from the manifest). On any failure `target` is
/// removed again and the failure says why; on success the info read. `stop` (if given) is asked
/// every 64 entries: true ends the restore (target removed) with a failure whose errno is EINTR —
/// the archive is not at fault then.
util::Result<SnapshotInfo> restore_snapshot(const std::filesystem::path& archive,
                                            const std::filesystem::path& target,
                                            const std::string& expected_sha256,
                                            std::uint64_t expected_bytes,
                                            const std::function<bool()>& stop = {});

/// sha256 (hex) of a whole file, read in 1 MiB chunks; fails (errno text) when unreadable.
util::Result<std::string> sha256_file(const std::filesystem::path& path);

}  // namespace taskrunner::environment
