#pragma once
// File-system helpers shared by every stage. All descriptors are opened with O_CLOEXEC, because
// Boost 1.81 Process v2 does not close inherited descriptors reliably in children.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "taskrunner/util/result.hpp"

namespace taskrunner::util {

/// Makes sure descriptors 0, 1 and 2 are open: each closed one is opened on /dev/null (stdin
/// read-only, stdout/stderr write-only), as init systems do, so no descriptor taskrunner opens
/// later (an eventfd, a log file) can become "stdout" and be written to by mistake. Call first
/// thing in main(). Returns false when /dev/null cannot be opened (then nothing is safe to log).
bool ensure_standard_fds();

/// Formats "<what> <path>: <strerror(err)>" — the one shape every errno is reported in.
std::string errno_message(std::string_view what, const std::filesystem::path& path, int err);

/// Writes all `size` bytes to `fd`, retrying on EINTR and waiting with poll(2) on EAGAIN (the fd
/// may be non-blocking when inherited). Returns 0 or the errno of the failing write.
int write_all(int fd, const void* data, std::size_t size);

/// Atomically replaces `path` with `content`: writes `<dir>/.<name>.tmp-<pid>-<n>` in the same
/// directory, fsyncs nothing (crash-consistency of the page cache is enough for logs), then
/// rename(2)s over `path`. Readers see the old or the new file, never a partial one. Temp files of
/// a killed writer keep the recognisable `.tmp-` infix for cleanup.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content,
                         unsigned mode = 0644);

/// Reads a whole regular file of at most `limit` bytes. Fails (errno message naming the path)
/// when it cannot be opened or read, is a directory, or is larger than `limit`.
Result<std::string> read_file(const std::filesystem::path& path,
                              std::size_t limit = std::size_t{64} * 1024 * 1024);

/// True when `path` itself (lstat: not a symlink to one) is a directory — for paths on a shared
/// volume, where a planted symlink must not be followed.
bool is_real_dir(const std::filesystem::path& path);

/// Creates `path` and its parents (mode 0755). Returns an errno message on failure.
Status make_dirs(const std::filesystem::path& path);

/// Succeeds when `dir` is a directory in which this process can create, write and remove a
/// file (an actual probe, not access(2), so read-only mounts and full disks are caught); else
/// the Status says why, with the errno (EROFS, EACCES, ENOSPC, ENOTDIR, …).
Status probe_writable(const std::filesystem::path& dir);

/// Device id of the file system holding `path` (stat(2) st_dev), or nullopt if it cannot be
/// statted.
std::optional<unsigned long> device_of(const std::filesystem::path& path);

}  // namespace taskrunner::util
