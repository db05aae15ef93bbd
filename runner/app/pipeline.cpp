// The run as a recipe: checkpoints 2–11 in order, each in runner/app/steps/<id>.cpp (checkpoint
// 1, `spec`, runs before this: steps/spec.cpp, called by cli.cpp). No policy here — only the
// order, what each step hands to the next, and where the run ends.
#include "taskrunner/app/pipeline.hpp"

#include "steps/steps.hpp"
#include "taskrunner/report/log.hpp"

namespace taskrunner::app {
namespace {

using report::Id;

/// `doctor` runs only the checkpoints marked `in_doctor` in report::kCheckpoints (spec … nix).
bool doctor_stops_before(const Settings& s, Id id) {
  return s.doctor && !report::info(id).in_doctor;
}

int run_steps(const Settings& s, const spec::TaskSpec& spec, report::Recorder& rec,
              execution::ProcessRunner& runner, execution::Supervisor* supervisor) {
  bool cancelled_by_system_deps = false;  // set by a failing background Nix build
  const steps::Checkpoints cp{rec, supervisor, s.doctor, &cancelled_by_system_deps};
  const auto index = steps::index_of(spec);

  steps::runtime(cp, s, spec);                               // 2
  const auto cache = steps::cache_mounts(cp, s, spec);       // 3
  steps::disk_space(cp, s, cache);                           // 4
  auto probes = steps::network(cp, s, spec, index, runner);  // 5 (finds uv, python, entry)
  const auto installer = steps::uv(cp, s, probes);           // 6
  auto sys = steps::nix(cp, s, spec, runner);                // 7
  if (doctor_stops_before(s, Id::system_deps)) return 0;

  // 8 starts here and, when the key is cold, builds in the background during 9 and 10.
  steps::start_system_deps(cp, sys, s, spec, runner, cancelled_by_system_deps);
  environment::InstallContext ictx;
  try {
    ictx = steps::venv(cp, s, spec, runner, installer, cache, probes);  // 9
    steps::python_deps(cp, s, spec, runner, ictx, probes.plan, index);  // 10
  } catch (const report::StepError& e) {
    steps::finish_system_deps(cp, sys, s, &e);  // stop the build, or raise its own failure
    throw;
  }
  steps::finish_system_deps(cp, sys, s, nullptr);  // 8 ends

  return steps::user_code(cp, s, spec, runner, ictx, probes.plan, sys);  // 11
}

}  // namespace

int run_pipeline(const Settings& settings, const spec::TaskSpec& spec, report::Recorder& recorder,
                 execution::ProcessRunner& runner, execution::Supervisor* supervisor) {
  try {
    return run_steps(settings, spec, recorder, runner, supervisor);
  } catch (const report::StepError& e) {
    report::log().error("failed at checkpoint {}: {}", report::name(e.checkpoint()), e.what());
    if (!e.hint().empty()) report::log().error("hint: {}", e.hint());
    return report::exit_code_for(e);
  }
}

}  // namespace taskrunner::app
