#include "taskrunner/preflight/disk_space.hpp"

#include <sys/statvfs.h>

#include "taskrunner/report/hints.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::preflight {

util::Result<FreeSpace> free_space(const std::filesystem::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) {
    const int err = errno;
    return util::Status{util::errno_message("cannot statvfs", path, err), err};
  }
  FreeSpace f;
  f.free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  f.free_inodes = st.f_favail;
  f.total_inodes = st.f_files;
  return f;
}

namespace {

/// Empty when `f` meets the thresholds, else what is short.
std::string shortfall(const FreeSpace& f, std::uint64_t min_bytes) {
  if (f.free_bytes < min_bytes) {
    constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
    return std::to_string(f.free_bytes / kMiB) + " MiB free, " + std::to_string(min_bytes / kMiB) +
           " MiB needed";
  }
  if (f.total_inodes > 0 && f.free_inodes < kMinFreeInodes) {
    return std::to_string(f.free_inodes) + " inodes free, " + std::to_string(kMinFreeInodes) +
           " needed";
  }
  return {};
}

nlohmann::json to_json(const std::filesystem::path& p, const FreeSpace& f) {
  return {{"path", p.string()}, {"free_bytes", f.free_bytes}, {"free_inodes", f.free_inodes}};
}

}  // namespace

report::Outcome check_disk_space(const std::filesystem::path& work_dir,
                                 const std::optional<std::filesystem::path>& cache_dir,
                                 std::uint64_t min_free_bytes) {
  report::Outcome o;
  o.detail["min_free_bytes"] = min_free_bytes;
  const auto work = free_space(work_dir);
  if (!work) {
    o.status = report::Status::failed;
    o.error = report::ErrorInfo{work.error(),
                                "check that TASKRUNNER_WORK_DIR is a mounted, readable path"};
    return o;
  }
  o.detail["work_dir"] = to_json(work_dir, *work);
  if (const auto s = shortfall(*work, min_free_bytes); !s.empty()) {
    o.status = report::Status::failed;
    o.detail["failure"] = std::string(report::hint_for(report::Failure::no_space).id);
    o.error = report::ErrorInfo{"not enough space in the work dir " + work_dir.string() + ": " + s,
                                std::string(report::hint_for(report::Failure::no_space).text)};
    return o;
  }
  if (cache_dir) {
    const auto cache = free_space(*cache_dir);
    if (cache) {
      o.detail["cache_dir"] = to_json(*cache_dir, *cache);
      if (const auto s = shortfall(*cache, min_free_bytes); !s.empty()) {
        o.status = report::Status::warn;
        o.error = report::ErrorInfo{"cache volume " + cache_dir->string() + " is nearly full: " + s,
                                    "grow the cache PVC or prune it (uv cache prune)"};
      }
    }
  }
  return o;
}

}  // namespace taskrunner::preflight
