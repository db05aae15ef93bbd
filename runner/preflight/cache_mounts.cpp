#include "taskrunner/preflight/cache_mounts.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "taskrunner/report/hints.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::preflight {

VolumeProbe probe_volume(const std::filesystem::path& dir) {
  VolumeProbe v;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    v.owner_uid = st.st_uid;
    v.owner_gid = st.st_gid;
    v.mode = st.st_mode & 07777;
  }
  const auto file = dir / (".taskrunner-volume-probe.tmp-" + std::to_string(::getpid()));
  const auto link = dir / (".taskrunner-volume-probe-link.tmp-" + std::to_string(::getpid()));
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return v;
  struct stat fst {};
  v.chmod_works = ::fchmod(fd, 0600) == 0 && ::fstat(fd, &fst) == 0 && (fst.st_mode & 0777) == 0600;
  v.flock_works = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  if (v.flock_works) (void)::flock(fd, LOCK_UN);
  ::close(fd);
  v.hardlink_works = ::link(file.c_str(), link.c_str()) == 0;
  ::unlink(link.c_str());
  ::unlink(file.c_str());
  return v;
}

CacheCheck check_cache_mounts(bool use_cache, const std::filesystem::path& cache_dir,
                              const std::filesystem::path& work_dir) {
  CacheCheck c;
  c.outcome.detail["cache_dir"] = cache_dir.string();
  if (!use_cache) {
    c.outcome.status = report::Status::skipped;
    c.outcome.detail["reason"] = "USE_CACHE is false";
    return c;
  }
  auto st = util::make_dirs(cache_dir);
  if (st.ok()) st = util::probe_writable(cache_dir);
  if (st.ok()) {
    c.usable = true;
    const auto a = util::device_of(cache_dir);
    const auto b = util::device_of(work_dir);
    c.same_filesystem_as_work_dir = a && b && *a == *b;
    c.outcome.detail["writable"] = true;
    c.outcome.detail["same_filesystem_as_work_dir"] = c.same_filesystem_as_work_dir;
    const auto v = probe_volume(cache_dir);
    char mode[8];
    (void)std::snprintf(mode, sizeof mode, "%04o", v.mode);
    c.outcome.detail["owner"] = std::to_string(v.owner_uid) + ":" + std::to_string(v.owner_gid);
    c.outcome.detail["mode"] = mode;
    c.outcome.detail["chmod_works"] = v.chmod_works;
    c.outcome.detail["hardlink_works"] = v.hardlink_works;
    c.outcome.detail["flock_works"] = v.flock_works;
    if (!v.flock_works) {
      c.outcome.status = report::Status::warn;
      c.outcome.error = report::ErrorInfo{
          "the cache volume " + cache_dir.string() + " does not support flock(2)",
          "uv locks its cache with flock: use a volume with working locks (NFS: mount with "
          "local_lock=all or use NFSv4), or set USE_CACHE=false"};
    }
    return c;
  }
  c.outcome.status = report::Status::warn;
  c.outcome.detail["writable"] = false;
  c.outcome.detail["running_without_cache"] = true;
  c.outcome.error = report::ErrorInfo{
      "cache directory " + cache_dir.string() + " is not usable: " + st.error,
      "mount the uv cache volume (PVC) read-write at " + cache_dir.string() +
          " or point UV_CACHE_DIR at a writable directory; this run continues without a cache "
          "and downloads every package"};
  report::Failure failure{};
  if (report::failure_for_errno(st.err, failure)) {
    const auto& h = report::hint_for(failure);
    c.outcome.detail["failure"] = std::string(h.id);
    c.outcome.error->hint = std::string(h.text) + " (cache directory " + cache_dir.string() + ")";
  }
  return c;
}

}  // namespace taskrunner::preflight
