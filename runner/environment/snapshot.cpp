#include "taskrunner/environment/snapshot.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <memory>
#include <unordered_set>
#include <vector>

#include "taskrunner/environment/zstd_stream.hpp"
#include "taskrunner/util/fs.hpp"
#include "taskrunner/util/hash.hpp"

namespace taskrunner::environment {
namespace {

constexpr std::size_t kChunk = std::size_t{1} << 20;

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

std::string archive_message(archive* a, const std::string& what) {
  const char* m = archive_error_string(a);
  return what + ": " + (m != nullptr ? m : "unknown libarchive error");
}

/// libarchive's read callback: the tar bytes the stream's thread decompressed.
la_ssize_t stream_read(archive* /*a*/, void* data, const void** out) {
  auto* stream = static_cast<ZstdFileStream*>(data);
  const auto block = stream->next();
  *out = block.data();
  if (block.empty() && stream->failed()) return -1;
  return static_cast<la_ssize_t>(block.size());
}

bool safe_relative(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (path.compare(start, end - start, "..") == 0) return false;
    start = end + 1;
  }
  return true;
}

/// The symlinks a restore has created, by their path in the archive (normalised: no "." or
/// empty components). The target is a new directory that only this restore writes, so these
/// are the only symlinks an entry could be written through, and refusing an entry at or below
/// one of them is the check ARCHIVE_EXTRACT_SECURE_SYMLINKS makes with an lstat of every
/// component of every path (about 30 syscalls per entry against tar's 10: 38 % of a restore's
/// CPU) — here without a syscall.
class SymlinkGuard {
 public:
  static std::string normalise(std::string_view path) {
    std::string out;
    std::size_t start = 0;
    while (start <= path.size()) {
      auto end = path.find('/', start);
      if (end == std::string_view::npos) end = path.size();
      const auto part = path.substr(start, end - start);
      if (!part.empty() && part != ".") {
        if (!out.empty()) out += '/';
        out += part;
      }
      start = end + 1;
    }
    return out;
  }
  /// False when `path` (normalised) is, or lies below, a symlink created earlier.
  [[nodiscard]] bool passes(const std::string& path) const {
    if (links_.empty()) return true;
    for (std::size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      if (links_.count(path.substr(0, slash)) != 0) return false;
    }
    return links_.count(path) == 0;
  }
  void add(std::string path) { links_.insert(std::move(path)); }

 private:
  std::unordered_set<std::string> links_;
};

std::optional<std::string> sha256_of(const std::filesystem::path& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = util::errno_message("cannot open", path, errno);
    return std::nullopt;
  }
  util::Sha256 sha;
  std::vector<char> buf(kChunk);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = util::errno_message("cannot read", path, errno);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    sha.update(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return sha.hex_digest();
}

std::optional<SnapshotInfo> write_archive(const std::filesystem::path& dir,
                                          const std::filesystem::path& archive_path,
                                          std::string& error, int level) {
  SnapshotInfo info;
  const int out_fd = ::open(archive_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0) {
    error = util::errno_message("cannot create", archive_path, errno);
    return std::nullopt;
  }
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_add_filter_zstd(a.get());
  const std::string opt = "zstd:compression-level=" + std::to_string(level);
  if (archive_write_set_options(a.get(), opt.c_str()) != ARCHIVE_OK ||
      archive_write_open_fd(a.get(), out_fd) != ARCHIVE_OK) {
    error = archive_message(a.get(), "cannot write " + archive_path.string());
    ::close(out_fd);
    return std::nullopt;
  }
  std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
  std::vector<char> buf(kChunk);
  std::error_code ec;
  auto it = std::filesystem::recursive_directory_iterator(dir, ec);
  if (ec) {
    error = util::errno_message("cannot read", dir, ec.value());
    ::close(out_fd);
    return std::nullopt;
  }
  for (; it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const auto& p = it->path();
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      error = util::errno_message("cannot stat", p, errno);
      ::close(out_fd);
      return std::nullopt;
    }
    archive_entry_clear(entry.get());
    archive_entry_copy_pathname(entry.get(), p.lexically_relative(dir).c_str());
    archive_entry_copy_stat(entry.get(), &st);
    std::string link;
    if (S_ISLNK(st.st_mode)) {
      link = std::filesystem::read_symlink(p, ec).string();
      archive_entry_copy_symlink(entry.get(), link.c_str());
    } else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
      continue;  // sockets, fifos: never part of a venv worth keeping
    }
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) {
      error = archive_message(a.get(), "cannot add " + p.string());
      ::close(out_fd);
      return std::nullopt;
    }
    ++info.entries;
    if (S_ISREG(st.st_mode)) {
      const int in = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
      if (in < 0) {
        error = util::errno_message("cannot open", p, errno);
        ::close(out_fd);
        return std::nullopt;
      }
      for (;;) {
        const ssize_t n = ::read(in, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        archive_write_data(a.get(), buf.data(), static_cast<std::size_t>(n));
        info.content_bytes += static_cast<std::uint64_t>(n);
      }
      ::close(in);
    }
  }
  if (ec) {
    error = util::errno_message("cannot walk", dir, ec.value());
    ::close(out_fd);
    return std::nullopt;
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    error = archive_message(a.get(), "cannot finish " + archive_path.string());
    ::close(out_fd);
    return std::nullopt;
  }
  if (::close(out_fd) != 0) {
    error = util::errno_message("cannot close", archive_path, errno);
    return std::nullopt;
  }
  auto sha = sha256_of(archive_path, error);
  if (!sha) return std::nullopt;
  info.sha256 = *sha;
  info.archive_bytes = std::filesystem::file_size(archive_path, ec);
  return info;
}

std::optional<SnapshotInfo> restore_archive(const std::filesystem::path& archive_path,
                                            const std::filesystem::path& target,
                                            const std::string& expected_sha256,
                                            std::uint64_t expected_bytes, std::string& error,
                                            const std::function<bool()>& stop, bool& stopped) {
  SnapshotInfo info;
  const int fd = ::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = util::errno_message("cannot open", archive_path, errno);
    return std::nullopt;
  }
  // Reading, hashing and decompressing run on the stream's thread, beside this one.
  auto stream = std::make_unique<ZstdFileStream>(fd, archive_path);
  std::error_code ec;
  // Entries are extracted relative to `target` (the working directory meanwhile), so the
  // SECURE_* checks see exactly the archive's own paths, as bsdtar -C does.
  const int saved_cwd = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const auto fail = [&](std::string message) -> std::optional<SnapshotInfo> {
    // A failed read or decompression explains the failure better than libarchive's view of it.
    if (stream->failed()) message = stream->finish().error();
    stream.reset();
    error = std::move(message);
    if (saved_cwd >= 0) {
      (void)::fchdir(saved_cwd);
      ::close(saved_cwd);
    }
    std::filesystem::remove_all(target, ec);
    return std::nullopt;
  };
  if (saved_cwd < 0) {
    error = util::errno_message("cannot open", ".", errno);
    return std::nullopt;
  }
  if (!std::filesystem::create_directories(target, ec)) {
    ::close(saved_cwd);
    error = util::errno_message("cannot create", target, ec ? ec.value() : EEXIST);
    return std::nullopt;
  }
  if (::chdir(target.c_str()) != 0) return fail(util::errno_message("cannot enter", target, errno));
  std::unique_ptr<archive, ReadDeleter> in(archive_read_new());
  archive_read_support_format_tar(in.get());
  if (archive_read_open(in.get(), stream.get(), nullptr, stream_read, nullptr) != ARCHIVE_OK) {
    return fail(archive_message(in.get(), "cannot read " + archive_path.string()));
  }
  std::unique_ptr<archive, ArchiveDeleter> out(archive_write_disk_new());
  // libarchive's own checks for absolute and ".." paths stay; its symlink walk is replaced by
  // SymlinkGuard (same refusals, no per-component lstat).
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
  SymlinkGuard links;
  archive_entry* entry = nullptr;
  for (;;) {
    const int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) return fail(archive_message(in.get(), "corrupt snapshot"));
    if (stop && info.entries % 64 == 0 && stop()) {
      stopped = true;
      return fail("restore of " + archive_path.string() + " stopped");
    }
    const std::string rel = archive_entry_pathname(entry);
    if (!safe_relative(rel)) return fail("unsafe path in snapshot: '" + rel + "'");
    const auto normal = SymlinkGuard::normalise(rel);
    if (!links.passes(normal)) {
      return fail("unsafe path in snapshot: '" + rel + "' would be written through a symlink");
    }
    if (const char* hard = archive_entry_hardlink(entry); hard != nullptr) {
      const std::string target = hard;
      if (!safe_relative(target) || !links.passes(SymlinkGuard::normalise(target))) {
        std::string message = "unsafe hard link in snapshot: '" + rel;
        message += "' -> '" + target + "'";
        return fail(message);
      }
    }
    if (archive_entry_filetype(entry) == AE_IFLNK) links.add(normal);
    const auto dest = target / rel;
    if (archive_write_header(out.get(), entry) != ARCHIVE_OK) {
      return fail(archive_message(out.get(), "refused entry '" + rel + "'"));
    }
    ++info.entries;
    const void* block = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
      const int d = archive_read_data_block(in.get(), &block, &size, &offset);
      if (d == ARCHIVE_EOF) break;
      if (d != ARCHIVE_OK) return fail(archive_message(in.get(), "corrupt data for '" + rel + "'"));
      if (archive_write_data_block(out.get(), block, size, offset) != ARCHIVE_OK) {
        return fail(archive_message(out.get(), "cannot write '" + dest.string() + "'"));
      }
      info.content_bytes += size;
    }
    if (archive_write_finish_entry(out.get()) != ARCHIVE_OK) {
      return fail(archive_message(out.get(), "cannot finish '" + dest.string() + "'"));
    }
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) {
    return fail(archive_message(out.get(), "cannot finish extraction"));
  }
  // The rest of the file (tar's end-of-archive padding) is hashed too, so all of it is covered.
  auto digest = stream->finish();
  if (!digest) return fail(digest.error());
  info.sha256 = digest->sha256;
  info.archive_bytes = digest->bytes;
  if (info.archive_bytes != expected_bytes || info.sha256 != expected_sha256) {
    return fail("snapshot " + archive_path.string() + " does not match its manifest (" +
                std::to_string(info.archive_bytes) + " bytes, sha256 " + info.sha256.substr(0, 16) +
                "…; expected " + std::to_string(expected_bytes) + " bytes, " +
                expected_sha256.substr(0, 16) + "…)");
  }
  stream.reset();
  (void)::fchdir(saved_cwd);
  ::close(saved_cwd);
  return info;
}

}  // namespace

namespace {
/// The Result of an internal function that reports through `error`.
template <class T, class F>
util::Result<T> result_of(F&& f) {
  std::string error;
  auto v = f(error);
  if (!v) return util::Status{error.empty() ? std::string("failed") : error};
  return std::move(*v);
}
}  // namespace

util::Result<std::string> sha256_file(const std::filesystem::path& path) {
  return result_of<std::string>([&](std::string& e) { return sha256_of(path, e); });
}

util::Result<SnapshotInfo> write_snapshot(const std::filesystem::path& dir,
                                          const std::filesystem::path& archive, int level) {
  return result_of<SnapshotInfo>(
      [&](std::string& e) { return write_archive(dir, archive, e, level); });
}

util::Result<SnapshotInfo> restore_snapshot(const std::filesystem::path& archive,
                                            const std::filesystem::path& target,
                                            const std::string& expected_sha256,
                                            std::uint64_t expected_bytes,
                                            const std::function<bool()>& stop) {
  bool stopped = false;
  auto r = result_of<SnapshotInfo>([&](std::string& e) {
    return restore_archive(archive, target, expected_sha256, expected_bytes, e, stop, stopped);
  });
  if (!r && stopped) return util::Status{r.error(), EINTR};
  return r;
}

}  // namespace taskrunner::environment
