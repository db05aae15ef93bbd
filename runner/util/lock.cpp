#include "taskrunner/util/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <thread>
#include <utility>

#include "taskrunner/util/fs.hpp"

namespace taskrunner::util {

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor drops the flock
}

int FileLock::release() { return std::exchange(fd_, -1); }

Result<FileLock> lock_file(const std::filesystem::path& path, std::chrono::milliseconds timeout,
                           bool* waited, bool shared, const std::function<bool()>& stop) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    const int err = errno;
    return Status{errno_message("cannot open lock file", path, err), err};
  }
  FileLock lock(fd);
  if (waited != nullptr) *waited = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (::flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0) return lock;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      const int err = errno;
      return Status{errno_message("cannot lock", path, err), err};
    }
    if (waited != nullptr) *waited = true;
    if (stop && stop()) {
      return Status{"stopped while waiting for the lock " + path.string(), EINTR};
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status{path.string() + " is still locked by another process after " +
                        std::to_string(timeout.count() / 1000) + " s",
                    EWOULDBLOCK};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool lock_unsupported(int err) {
  return err == ENOLCK || err == EOPNOTSUPP || err == ENOSYS || err == kErrnoNotSupp;
}

}  // namespace taskrunner::util
