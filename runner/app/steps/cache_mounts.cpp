// Checkpoint 3, `cache_mounts`: the uv cache volume (PVC) exists, is writable, and how it links.
#include "steps.hpp"

namespace taskrunner::app::steps {

CacheMounts cache_mounts(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec) {
  CacheMounts out;
  cp.run(report::Id::cache_mounts, [&] {
    out.check = preflight::check_cache_mounts(spec.use_cache, s.uv_cache_dir, s.work_dir);
    return out.check.outcome;
  });
  if (out.check.usable) out.uv_cache = s.uv_cache_dir;
  return out;
}

}  // namespace taskrunner::app::steps
