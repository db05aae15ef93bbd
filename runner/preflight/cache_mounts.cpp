#include "taskrunner/preflight/cache_mounts.hpp"

#include "taskrunner/report/hints.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::preflight {

CacheCheck check_cache_mounts(bool use_cache, const std::filesystem::path& cache_dir,
                              const std::filesystem::path& work_dir) {
  CacheCheck c;
  c.outcome.detail["cache_dir"] = cache_dir.string();
  if (!use_cache) {
    c.outcome.status = report::Status::skipped;
    c.outcome.detail["reason"] = "USE_CACHE is false";
    return c;
  }
  std::string error;
  int err = 0;
  const auto made = util::make_dirs(cache_dir);
  if (made.ok() && util::probe_writable(cache_dir, error, &err)) {
    c.usable = true;
    const auto a = util::device_of(cache_dir);
    const auto b = util::device_of(work_dir);
    c.same_filesystem_as_work_dir = a && b && *a == *b;
    c.outcome.detail["writable"] = true;
    c.outcome.detail["same_filesystem_as_work_dir"] = c.same_filesystem_as_work_dir;
    return c;
  }
  if (!made.ok()) {
    error = made.error;
    err = made.err;
  }
  c.outcome.status = report::Status::warn;
  c.outcome.detail["writable"] = false;
  c.outcome.detail["running_without_cache"] = true;
  c.outcome.error = report::ErrorInfo{
      "cache directory " + cache_dir.string() + " is not usable: " + error,
      "mount the uv cache volume (PVC) read-write at " + cache_dir.string() +
          " or point UV_CACHE_DIR at a writable directory; this run continues without a cache "
          "and downloads every package"};
  report::Failure failure{};
  if (report::failure_for_errno(err, failure)) {
    const auto& h = report::hint_for(failure);
    c.outcome.detail["failure"] = std::string(h.id);
    c.outcome.error->hint = std::string(h.text) + " (cache directory " + cache_dir.string() + ")";
  }
  return c;
}

}  // namespace taskrunner::preflight
