// Checkpoint 9, `venv`: the base interpreter, then the environment cache's hit, or a fresh
// virtualenv (written directly, or `uv venv` / `python -m venv` where it cannot be; one builder
// per key when the cache is on).
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "steps.hpp"
#include "taskrunner/environment/venv.hpp"
#include "taskrunner/report/hints.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::app::steps {
namespace {

using report::FailureKind;
using report::Id;
using report::StepError;

/// Miss: one runner per key builds; the others wait for its lock and then use its entry.
/// true when that entry was used. The wait ends early on a terminating signal (exit 128+n) and
/// at ARGO_DEADLINE, like any step.
bool wait_for_builder(const Checkpoints& cp, EnvPlan& plan, const Settings& s,
                      std::filesystem::path& venv) {
  bool waited = false;
  int signal = 0;
  const auto limit = bounded(s.install_timeout, s);
  const auto wait_until =
      std::chrono::steady_clock::now() + limit.applied.value_or(s.install_timeout);
  const auto stop = [&] {
    if (cp.supervisor != nullptr) signal = cp.supervisor->pending_termination();
    return signal != 0 || (limit.by_deadline && std::chrono::steady_clock::now() >= wait_until);
  };
  auto lock = util::lock_file(plan.paths.build_lock, limit.applied.value_or(s.install_timeout),
                              &waited, false, stop);
  if (signal != 0) {
    throw StepError(Id::venv, FailureKind::terminated,
                    "stopped by signal " + std::to_string(signal) +
                        " while waiting for another runner to build this environment",
                    std::string(report::hint_for(report::Failure::terminated).text),
                    {{"reason", "terminated"}, {"signal", signal}}, signal);
  }
  if (!lock && limit.by_deadline) {
    throw StepError(Id::venv, FailureKind::timeout,
                    "waiting for another runner to build this environment reached ARGO_DEADLINE",
                    std::string(report::hint_for(report::Failure::deadline).text),
                    {{"reason", "deadline"}});
  }
  if (!lock && util::lock_unsupported(lock.status().err)) {
    // The volume cannot flock (ENOLCK, ENOTSUP, 524): build without single flight; publishing
    // stays safe (atomic rename, the first valid entry is kept).
    report::log().warn("environment cache: {}; building without single flight", lock.error());
    plan.detail["build_lock"] = "unsupported: " + lock.error();
    plan.build_lock = util::FileLock();
    return false;
  }
  if (!lock) {
    report::log().warn("environment cache: {}; building without it", lock.error());
    plan.enabled = false;
    plan.detail["error"] = lock.error();
    return false;
  }
  plan.build_lock = std::move(*lock);
  if (!waited) return false;
  auto found = environment::find_entry(s.env_cache, plan.key, plan.mode);
  plan.hit = found ? std::move(*found) : std::nullopt;
  plan.detail["waited_for_other_builder"] = true;
  if (plan.hit && use_env_hit(cp, plan, s, venv)) {
    plan.build_lock.reset();
    return true;
  }
  return false;
}

}  // namespace

execution::RunResult make_venv(execution::ProcessRunner& runner, Id id,
                               const environment::InstallContext& ictx, const Settings& s,
                               nlohmann::json& detail) {
  const auto layout = environment::native_venv_layout(ictx);
  if (!layout) {
    const bool uv = ictx.installer.kind == tools::InstallerKind::uv;
    detail["created_by"] = uv ? "uv venv" : "python -m venv";
    return run_setup_step(runner, id, environment::venv_command(ictx), s);
  }
  detail["created_by"] = "taskrunner";
  const auto t0 = std::chrono::steady_clock::now();
  const auto st = environment::create_venv(*layout);
  execution::RunResult r;
  r.started = true;
  r.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  if (st.ok()) return r;
  if (st.err == ENOSPC || st.err == EDQUOT) {
    r.exit_code = 1;
    r.output_tail = st.error;
    return r;
  }
  throw StepError(id, FailureKind::failed, "creating the virtualenv failed: " + st.error,
                  "check that the directory is writable by this user (TASKRUNNER_WORK_DIR, or "
                  "the environment cache volume in place mode)",
                  detail);
}

environment::InstallContext venv(const Checkpoints& cp, const Settings& s,
                                 const spec::TaskSpec& spec, execution::ProcessRunner& runner,
                                 const tools::Installer& installer, const CacheMounts& cache,
                                 Probes& probes) {
  environment::InstallContext ictx;
  ictx.venv = s.work_dir / "venv";
  ictx.installer = installer;
  ictx.cache_dir = cache.uv_cache;
  ictx.index_url = spec.index_url;
  ictx.progress = ::isatty(STDERR_FILENO) != 0;
  ictx.base_env = s.env;
  auto& plan = probes.plan;
  cp.run(Id::venv, [&] {
    report::Outcome o;
    auto& interp = probes.interpreter;
    if (!interp) {
      auto resolved = tools::resolve_interpreter(s.python, s.env, s.work_dir, runner,
                                                 probe_records(s, "interpreters"));
      if (!resolved) {
        const auto& h = report::hint_for(report::Failure::interpreter_missing);
        throw StepError(Id::venv, FailureKind::interpreter_missing, resolved.error(),
                        std::string(h.text), {{"failure", h.id}});
      }
      interp = *resolved;
    }
    ictx.base_python = interp->executable;
    ictx.base_has_pip = interp->has_pip;
    ictx.python_version = interp->version;
    o.detail = {{"base_python", interp->executable.string()},
                {"requested_python", interp->requested.string()},
                {"python_version", interp->version},
                {"resolved_from_cache", interp->from_cache},
                {"path", ictx.venv.string()},
                {"installer", installer.kind == tools::InstallerKind::uv ? "uv" : "pip"}};
    if (plan.enabled) {
      refresh_resolution(plan, s, spec, runner, ictx);
      bool used = plan.hit && use_env_hit(cp, plan, s, ictx.venv);
      if (!used && plan.read_only) {
        // Nothing can be published here: build in the work dir, name the key to warm.
        report::log().warn(
            "environment cache {} is read-only: key {} is built in the work dir and not "
            "published (hint: run `taskrunner cache warm` with this task's spec in a job that "
            "mounts the cache read-write)",
            s.env_cache.string(), plan.key);
        plan.enabled = false;
        plan.result = "miss";
      } else if (!used) {
        used = wait_for_builder(cp, plan, s, ictx.venv);
      }
      if (!used && plan.enabled && plan.mode == environment::EnvMode::inplace) {
        ictx.venv = environment::inplace_venv_dir(s.env_cache, plan.key);
      }
      o.detail["path"] = ictx.venv.string();
      o.detail["env_cache"] = plan.record();
      if (used) return o;
    }
    if (installer.kind == tools::InstallerKind::uv && ictx.cache_dir) {
      const auto link = environment::choose_link_mode(*ictx.cache_dir, ictx.venv.parent_path());
      ictx.link_mode = link.mode;
      o.detail["uv_link_mode"] = std::string(environment::to_string(link.mode));
      o.detail["uv_link_mode_reason"] = link.reason;
    }
    // A fresh venv every run: remove what an earlier run left (uv and venv differ on reuse).
    std::error_code ec;
    std::filesystem::remove_all(ictx.venv, ec);
    if (ec) {
      throw StepError(Id::venv, FailureKind::failed,
                      util::errno_message("cannot remove the old venv", ictx.venv, ec.value()),
                      "check permissions of TASKRUNNER_WORK_DIR", o.detail);
    }
    auto r = make_venv(runner, Id::venv, ictx, s, o.detail);
    if (r.exit_code != 0 && environment::output_says_no_space(r.output_tail) && plan.enabled &&
        plan.mode == environment::EnvMode::inplace) {
      // The environment cache volume is full: build in the work dir, uncached, publish nothing.
      r = go_on_uncached(Id::venv, s, runner, ictx, plan, o.detail);
    }
    if (r.exit_code != 0 && environment::output_says_no_space(r.output_tail)) {
      const auto& h = report::hint_for(report::Failure::no_space);
      o.detail["failure"] = std::string(h.id);
      throw StepError(Id::venv, FailureKind::failed,
                      "creating the virtualenv in " + ictx.venv.parent_path().string() +
                          " failed: the volume is full (ENOSPC)",
                      std::string(h.text), o.detail);
    }
    if (r.exit_code != 0) {
      throw StepError(
          Id::venv, FailureKind::failed,
          "creating the virtualenv failed (exit code " + std::to_string(r.exit_code) + ")",
          "read the output above; for pip, the base Python needs the venv and "
          "ensurepip modules (Debian: python3-venv)",
          o.detail);
    }
    o.detail["duration_ms"] = r.duration_ms;
    return o;
  });
  return ictx;
}

}  // namespace taskrunner::app::steps
