// Checkpoint 10, `python_deps`: writes <work>/requirements.txt and installs it (uv pip install
// or pip), retrying transient network failures; then publishes the environment cache entry.
#include <thread>

#include "steps.hpp"
#include "taskrunner/report/hints.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::app::steps {

using report::FailureKind;
using report::Id;
using report::StepError;

void python_deps(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec,
                 execution::ProcessRunner& runner, environment::InstallContext& ictx, EnvPlan& plan,
                 const Index& index) {
  if (spec.python_deps.empty()) {
    cp.skip(Id::python_deps, "no Python dependencies requested");
    return;
  }
  cp.run(Id::python_deps, [&] {
    report::Outcome o;
    o.detail["requested"] = spec.python_deps.size();
    if (plan.result == "hit") {
      o.detail["env_cache"] = plan.record();
      o.detail["installed_distributions"] = environment::count_installed(ictx.venv);
      return o;
    }
    const auto req_file = s.work_dir / "requirements.txt";
    const auto written =
        util::write_file_atomic(req_file, spec::render_requirements(spec.python_deps));
    if (!written.ok()) {
      throw StepError(Id::python_deps, FailureKind::failed, written.error,
                      "check free space and permissions of TASKRUNNER_WORK_DIR");
    }
    o.detail["requirements_file"] = req_file.string();
    o.detail["installer"] = ictx.installer.kind == tools::InstallerKind::uv ? "uv" : "pip";
    o.detail["index_url"] = index.redacted;
    o.detail["cache"] = ictx.cache_dir.has_value();
    // Transient network failures are retried: after 1 s, then 3 s, ... (README).
    auto install = environment::install_command(ictx, req_file);
    std::int64_t total_ms = 0;
    bool went_uncached = false;
    for (int attempt = 1;; ++attempt) {
      const auto r = run_setup_step(runner, Id::python_deps, install, s);
      total_ms += r.duration_ms;
      o.detail["attempts"] = attempt;
      o.detail["duration_ms"] = total_ms;
      if (r.exit_code == 0) break;
      const auto f =
          environment::diagnose_install_failure(r.output_tail, r.exit_code, index.redacted);
      if (f.transient && attempt <= s.install_retries) {
        const auto delay = std::chrono::milliseconds(1000 * (2 * attempt - 1));
        report::log().warn("python_deps: {}; retrying in {} s (attempt {} of {})", f.message,
                           delay.count() / 1000, attempt + 1, s.install_retries + 1);
        std::this_thread::sleep_for(delay);
        continue;
      }
      // Nothing to fall back from when the venv is already local and uncached: then the work
      // dir itself is full.
      const bool can_go_uncached = ictx.venv != s.work_dir / "venv" || ictx.cache_dir;
      if (f.failure == report::Failure::no_space && !went_uncached && can_go_uncached &&
          go_on_uncached(Id::python_deps, s, runner, ictx, plan, o.detail).exit_code == 0) {
        went_uncached = true;
        install = environment::install_command(ictx, req_file);
        continue;
      }
      o.detail["exit_code"] = r.exit_code;
      if (f.package) o.detail["package"] = *f.package;
      if (f.failure) o.detail["failure"] = std::string(report::hint_for(*f.failure).id);
      if (plan.enabled && plan.mode == environment::EnvMode::inplace) {
        // A half-installed venv on the shared volume helps nobody: remove it now.
        std::error_code ec;
        std::filesystem::remove_all(ictx.venv, ec);
      }
      throw StepError(Id::python_deps, FailureKind::failed, f.message, f.hint, o.detail);
    }
    o.detail["installed_distributions"] = environment::count_installed(ictx.venv);
    if (plan.enabled && plan.build_lock) {
      publish_env(plan, s, ictx.venv, runner);
      o.detail["env_cache"] = plan.record();
    }
    return o;
  });
}

}  // namespace taskrunner::app::steps
