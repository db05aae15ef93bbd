#pragma once
// `cache_mounts` checkpoint: is the cache volume usable?
#include <filesystem>

#include "taskrunner/report/outcome.hpp"

namespace taskrunner::preflight {

/// Result of the cache check; `usable` false means: run without a cache.
struct CacheCheck {
  report::Outcome outcome;
  bool usable = false;
  bool same_filesystem_as_work_dir = false;
};

/// What a volume supports, probed with a scratch file (POSIX permissions are ignored by some
/// PVC file systems; NFS may lack locks).
struct VolumeProbe {
  unsigned owner_uid = 0;
  unsigned owner_gid = 0;
  unsigned mode = 0;         ///< permission bits of the directory
  bool chmod_works = false;  ///< chmod(2) on a file there takes effect
  bool hardlink_works = false;
  bool flock_works = false;  ///< flock(2) LOCK_EX | LOCK_NB succeeds
};

/// Probes `dir` (which must be writable); leaves nothing behind.
VolumeProbe probe_volume(const std::filesystem::path& dir);

/// With `use_cache` false: skipped. Otherwise creates `cache_dir` if missing and probes that a
/// file can be created and written there. A missing or read-only volume is `warn` (the run goes
/// on without cache) with a hint naming the directory. Compares st_dev with `work_dir`, probes
/// the volume (probe_volume); no flock → `warn`. The uv link mode is
/// chosen later, against the venv's real directory (environment::choose_link_mode, `venv`).
CacheCheck check_cache_mounts(bool use_cache, const std::filesystem::path& cache_dir,
                              const std::filesystem::path& work_dir);

}  // namespace taskrunner::preflight
