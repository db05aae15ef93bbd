#pragma once
// Cross-process locks on shared volumes: flock(2) on a lock file, released by the kernel when the
// holder exits or dies, so a killed pod never leaves a stale lock.
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "taskrunner/util/result.hpp"

namespace taskrunner::util {

/// An exclusive flock(2) held on an open lock file (O_CLOEXEC). Movable; unlocks on destruction.
class FileLock {
 public:
  FileLock() = default;
  explicit FileLock(int fd) : fd_(fd) {}
  FileLock(FileLock&& other) noexcept : fd_(other.release()) {}
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();
  [[nodiscard]] bool held() const { return fd_ >= 0; }
  /// The descriptor (e.g. to hand the lock on to a child across exec after clearing CLOEXEC).
  [[nodiscard]] int fd() const { return fd_; }
  int release();

 private:
  int fd_ = -1;
};

/// Opens (creating, mode 0644) `path` and takes an exclusive flock, polling every 50 ms for at
/// most `timeout` (ms; zero = one try). Fails with an errno message naming the path, or with
/// "still locked by another process after N s" (errno EWOULDBLOCK).
/// `waited` (if given) is set to whether another process held the lock at first.
/// `shared`: a shared lock (LOCK_SH), which excludes only exclusive holders.
/// `stop` (if given) is asked between two tries; true ends the wait at once with errno EINTR
/// (a terminating signal or a deadline must not wait out the timeout). The lock file is opened
/// with O_NOFOLLOW: a symlink planted in its place is refused (ELOOP), never followed.
Result<FileLock> lock_file(const std::filesystem::path& path, std::chrono::milliseconds timeout,
                           bool* waited = nullptr, bool shared = false,
                           const std::function<bool()>& stop = {});

/// The kernel's ENOTSUPP (524), which some network and cluster file systems let flock(2) return
/// to user space although it is not in errno.h (seen in reports from HPC file systems).
inline constexpr int kErrnoNotSupp = 524;

/// True when `err` (the errno of a failed lock_file) says the file system cannot lock at all —
/// ENOLCK (NFS without a lock manager), EOPNOTSUPP/ENOTSUP, ENOSYS, kErrnoNotSupp — rather than
/// that somebody holds the lock. Callers then go on without the lock (docs/env-cache.md "Two
/// nodes on one volume"), never fail the run.
bool lock_unsupported(int err);

}  // namespace taskrunner::util
