#pragma once
// `cache_mounts` checkpoint: is the cache volume usable?
#include <filesystem>

#include "taskrunner/preflight/outcome.hpp"

namespace taskrunner::preflight {

/// Result of the cache check; `usable` false means: run without a cache.
struct CacheCheck {
  Outcome outcome;
  bool usable = false;
  bool same_filesystem_as_work_dir = false;  ///< decides uv's link mode (hard links need it)
};

/// With `use_cache` false: skipped. Otherwise creates `cache_dir` if missing and probes that a
/// file can be created and written there. A missing or read-only volume is `warn` (the run goes
/// on without cache) with a hint naming the directory. Compares st_dev with `work_dir`.
CacheCheck check_cache_mounts(bool use_cache, const std::filesystem::path& cache_dir,
                              const std::filesystem::path& work_dir);

}  // namespace taskrunner::preflight
