// Checkpoint 4, `disk_space`: free bytes and inodes of the work dir and the cache dir.
#include "taskrunner/preflight/disk_space.hpp"
#include "steps.hpp"

namespace taskrunner::app::steps {

void disk_space(const Checkpoints& cp, const Settings& s, const CacheMounts& cache) {
  cp.run(report::Id::disk_space,
         [&] { return preflight::check_disk_space(s.work_dir, cache.uv_cache, s.min_free_bytes); });
}

}  // namespace taskrunner::app::steps
