#include "taskrunner/util/fs.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace taskrunner::util {

bool ensure_standard_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // open(2) returns the lowest free descriptor: this one. Not O_CLOEXEC: children inherit it.
    const int got = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);  // NOLINT
    if (got != fd) {
      if (got >= 0) ::close(got);
      return false;
    }
  }
  return true;
}

std::string errno_message(std::string_view what, const std::filesystem::path& path, int err) {
  return std::string(what) + " " + path.string() + ": " + std::strerror(err);
}

int write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n >= 0) {
      p += n;
      size -= static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      pollfd pfd{fd, POLLOUT, 0};
      ::poll(&pfd, 1, 1000);
      continue;
    }
    return errno;
  }
  return 0;
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view content,
                         unsigned mode) {
  static std::atomic<unsigned> counter{0};
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const auto tmp = dir / ("." + path.filename().string() + ".tmp-" + std::to_string(::getpid()) +
                          "-" + std::to_string(counter++));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return {errno_message("cannot create", tmp, errno)};
  const int werr = write_all(fd, content.data(), content.size());
  if (::close(fd) != 0 && werr == 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return {errno_message("cannot write", tmp, err)};
  }
  if (werr != 0) {
    ::unlink(tmp.c_str());
    return {errno_message("cannot write", tmp, werr)};
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return {errno_message("cannot rename into place", path, err)};
  }
  return {};
}

bool is_real_dir(const std::filesystem::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::string> read_file(const std::filesystem::path& path, std::size_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Status{errno_message("cannot open", path, err), err};
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status{errno_message("cannot read", path, EISDIR), EISDIR};
  }
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Status{errno_message("cannot read", path, err), err};
    }
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > limit) {
      ::close(fd);
      return Status{path.string() + " is larger than " + std::to_string(limit) + " bytes", EFBIG};
    }
  }
  ::close(fd);
  return out;
}

Status make_dirs(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return {errno_message("cannot create directory", path, ec.value()), ec.value()};
  return {};
}

Status probe_writable(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    return {errno_message("cannot stat", dir, err), err};
  }
  if (!S_ISDIR(st.st_mode)) return {dir.string() + " is not a directory", ENOTDIR};
  const auto probe = dir / (".taskrunner-probe.tmp-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return {errno_message("cannot create a file in", dir, err), err};
  }
  const int werr = write_all(fd, "x", 1);
  ::close(fd);
  ::unlink(probe.c_str());
  if (werr != 0) return {errno_message("cannot write to", dir, werr), werr};
  return {};
}

std::optional<unsigned long> device_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<unsigned long>(st.st_dev);
}

}  // namespace taskrunner::util
