// Checkpoint 8, `system_deps`: one Nix buildEnv per key (docs/system-deps.md). A warm key ends
// at once; a cold one builds in the background — single flight through `taskrunner
// nix-build-once` — while venv and python_deps run, and ends after them.
#include "steps.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::app::steps {
namespace {

using report::FailureKind;
using report::Id;
using report::StepError;

/// The outcome of a finished build: nullopt when the environment exists (sys.store_path and
/// sys.detail are filled in), else the error to record and raise.
std::optional<StepError> build_failure(const execution::RunResult& r, SystemDeps& sys,
                                       const Settings& s) {
  auto& d = sys.detail;
  d["duration_ms"] = r.duration_ms;
  if (auto e = child_failure(Id::system_deps, r, sys.limit, d,
                             "raise TASKRUNNER_INSTALL_TIMEOUT (seconds), or check the "
                             "substituters' reachability in the [system_deps] output above")) {
    return e;
  }
  if (r.exit_code != 0) {
    d["exit_code"] = r.exit_code;
    if (auto attr = environment::unknown_attribute(r.output_tail)) {
      d["attribute"] = *attr;
      return StepError(Id::system_deps, FailureKind::failed,
                       "nixpkgs has no attribute '" + *attr + "'",
                       "check the attribute path on search.nixos.org for the pinned nixpkgs "
                       "(e.g. gnumake, not make)",
                       d);
    }
    if (r.output_tail.find("file 'nixpkgs' was not found in the Nix search path") !=
        std::string::npos) {
      return StepError(Id::system_deps, FailureKind::failed,
                       "no nixpkgs to build from: NIX_PATH has no 'nixpkgs' entry",
                       "set TASKRUNNER_NIXPKGS to a nixpkgs path or tarball URL (pin it), or "
                       "NIX_PATH=nixpkgs=…",
                       d);
    }
    return StepError(Id::system_deps, FailureKind::failed,
                     "nix-build failed (exit code " + std::to_string(r.exit_code) + ")",
                     "read the [system_deps] lines above; a missing substituter or no network "
                     "makes Nix build from source",
                     d);
  }
  const auto root = environment::valid_root(*sys.nix, s.env, sys.out_link);
  if (!root) {
    return StepError(
        Id::system_deps, FailureKind::failed,
        "nix-build succeeded but " + sys.out_link.string() + " does not point to a store path",
        "check that TASKRUNNER_NIX_ROOTS is on a volume Nix can write to", d);
  }
  sys.store_path = *root;
  d["store_path"] = root->string();
  d["built_by"] = r.output_tail.find(environment::kBuiltByOther) != std::string::npos
                      ? "another runner"
                      : "this runner";
  return std::nullopt;
}

/// The single-flight build of a cold key (taskrunner nix-build-once → nix-build).
execution::Command build_command(const SystemDeps& sys, const Settings& s) {
  const auto& nix = *sys.nix;
  const auto roots = sys.out_link.parent_path();
  const auto key = sys.out_link.filename().string();
  const auto build = tools::nix_command(
      nix, "nix-build", environment::nix_build_args(sys.request, sys.out_link), s.env);
  execution::Command once;
  once.executable = "/proc/self/exe";
  once.args = {"nix-build-once",
               "--lock",
               (roots / (key + ".lock")).string(),
               "--out-link",
               sys.out_link.string(),
               "--store-dir",
               tools::real_store_dir(nix, s.env).string(),
               "--",
               build.executable.string()};
  once.args.insert(once.args.end(), build.args.begin(), build.args.end());
  once.env = build.env;
  return once;
}

}  // namespace

void start_system_deps(const Checkpoints& cp, SystemDeps& sys, const Settings& s,
                       const spec::TaskSpec& spec, execution::ProcessRunner& runner,
                       bool& cancelled) {
  if (spec.system_deps.empty()) {
    cp.skip(Id::system_deps, "no system dependencies requested");
    return;
  }
  cp.start(Id::system_deps);
  if (sys.store_path) {
    cp.rec.finish(Id::system_deps, report::Status::ok, sys.detail);
    return;
  }
  if (const auto made = util::make_dirs(sys.out_link.parent_path()); !made.ok()) {
    throw cp.record(StepError(Id::system_deps, FailureKind::failed, made.error,
                              "make TASKRUNNER_NIX_ROOTS (the GC-root directory) writable",
                              sys.detail));
  }
  execution::RunOptions opts;
  sys.limit = bounded(s.install_timeout, s);
  opts.timeout = sys.limit.applied;
  opts.grace = s.grace;
  opts.stdout_to_stderr = true;
  opts.line_prefix = "[system_deps] ";
  report::log().info("system_deps: building {} (key {})", nlohmann::json(spec.system_deps).dump(),
                     sys.out_link.filename().string().substr(0, 12));
  sys.build = runner.start(build_command(sys, s), opts,
                           [&runner, &cancelled](const execution::RunResult& r) {
                             if (r.exit_code != 0 || r.timed_out || !r.started) {
                               cancelled = true;
                               runner.cancel_running();
                             }
                           });
}

void finish_system_deps(const Checkpoints& cp, SystemDeps& sys, const Settings& s,
                        const StepError* other) {
  if (!sys.build) return;
  const bool running = other != nullptr && !sys.build->finished();
  const auto r = running ? sys.build->stop() : sys.build->wait();
  sys.build.reset();
  if (running) {  // the foreground step failed first: its failure is the cause
    const std::string cause(report::name(other->checkpoint()));
    sys.detail["duration_ms"] = r.duration_ms;
    sys.detail["reason"] = "cancelled";
    cp.rec.finish(
        Id::system_deps, report::Status::failed, sys.detail,
        report::ErrorInfo{"stopped because " + cause + " failed", "fix " + cause + " first"});
    return;
  }
  const auto failure = build_failure(r, sys, s);
  if (!failure) {
    cp.rec.finish(Id::system_deps, report::Status::ok, sys.detail);
    return;
  }
  cp.record(*failure);
  const bool caused_the_stop =
      cp.cancelled_by_system_deps != nullptr && *cp.cancelled_by_system_deps;
  if (other == nullptr || caused_the_stop) throw *failure;
}

}  // namespace taskrunner::app::steps
