// Checkpoint 2, `runtime`: the container, plus the work and results dirs the run is about to use.
#include "taskrunner/preflight/runtime.hpp"
#include "steps.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/spec/index_url.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::app::steps {

Index index_of(const spec::TaskSpec& spec) {
  Index i;
  i.url = spec.index_url.value_or(std::string(spec::kDefaultIndexUrl));
  i.redacted = spec::redact_url(i.url);
  return i;
}

void runtime(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec) {
  cp.run(report::Id::runtime, [&] {
    auto o = preflight::check_runtime("/sys/fs/cgroup", !spec.system_deps.empty(),
                                      util::get(s.env, "PATH").value_or(""), s.doctor);
    for (const auto& dir : {s.work_dir, s.results_dir}) {
      auto st = util::make_dirs(dir);
      if (st.ok()) st = util::probe_writable(dir);
      if (!st.ok()) {
        throw report::StepError(report::Id::runtime, report::FailureKind::failed, st.error,
                                "mount a writable volume there or set TASKRUNNER_WORK_DIR / "
                                "TASKRUNNER_RESULTS_DIR to a writable path",
                                o.detail);
      }
    }
    o.detail["work_dir"] = s.work_dir.string();
    o.detail["results_dir"] = s.results_dir.string();
    if (s.doctor) return o;  // diagnosis only: no log file, no checkpoints.json
    if (const auto st = report::open_log_file(s.results_dir / "taskrunner.log"); !st.ok()) {
      throw report::StepError(report::Id::runtime, report::FailureKind::failed, st.error,
                              "make TASKRUNNER_RESULTS_DIR writable");
    }
    cp.rec.set_output(s.results_dir / "checkpoints.json");
    return o;
  });
}

}  // namespace taskrunner::app::steps
