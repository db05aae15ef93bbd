#pragma once
// `disk_space` checkpoint: enough free bytes and inodes where we write.
#include <cstdint>
#include <filesystem>
#include <optional>

#include "taskrunner/report/outcome.hpp"

#include "taskrunner/util/result.hpp"

namespace taskrunner::preflight {

/// Free space of one file system (statvfs(3): f_bavail * f_frsize, f_favail).
struct FreeSpace {
  std::uint64_t free_bytes = 0;
  std::uint64_t free_inodes = 0;
  std::uint64_t total_inodes = 0;  ///< 0 on file systems without inode accounting
};

/// statvfs(2) of `path` (bytes available to this user, inodes); fails with the errno text.
util::Result<FreeSpace> free_space(const std::filesystem::path& path);

/// Minimum free inodes we require on the work dir (a venv has thousands of files).
inline constexpr std::uint64_t kMinFreeInodes = 10000;

/// Fails when the work dir has less than `min_free_bytes` (bytes) or kMinFreeInodes free; warns
/// when the cache dir (if `cache_dir` is given) is below the same thresholds.
report::Outcome check_disk_space(const std::filesystem::path& work_dir,
                                 const std::optional<std::filesystem::path>& cache_dir,
                                 std::uint64_t min_free_bytes);

}  // namespace taskrunner::preflight
