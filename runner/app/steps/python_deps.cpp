// Checkpoint 10, `python_deps`: installs the task's Python dependencies (uv pip install or pip),
// retrying transient network failures, and writes the run's resolved lock to
// <results>/requirements.lock (docs/locks.md); then publishes the environment cache entry.
//   unpinned, pip: pip install -r requirements.txt --report → the lock from pip's report
//   unpinned, uv:  uv pip compile --generate-hashes → the lock, then uv pip install the lock
//   pinned (REQUIREMENTS_LOCK): the lock, installed with --require-hashes --no-deps
#include <functional>
#include <thread>

#include "steps.hpp"
#include "taskrunner/environment/resolved_lock.hpp"
#include "taskrunner/environment/system_env.hpp"
#include "taskrunner/report/checkpoint.hpp"
#include "taskrunner/report/hints.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::app::steps {
namespace {

using report::FailureKind;
using report::Id;
using report::StepError;

bool is_uv(const environment::InstallContext& ictx) {
  return ictx.installer.kind == tools::InstallerKind::uv;
}

/// Runs the command `make()` builds (it depends on ictx, which a full volume changes), retrying
/// transient failures; a full cache volume once sends the run on uncached. Records
/// <prefix>attempts and <prefix>duration_ms. Throws the python_deps StepError when it fails for
/// good.
void run_installer(const std::function<execution::Command()>& make, const Settings& s,
                   execution::ProcessRunner& runner, environment::InstallContext& ictx,
                   EnvPlan& plan, const Index& index, nlohmann::json& detail, bool& went_uncached,
                   const std::string& prefix = "") {
  // Transient network failures are retried: after 1 s, then 3 s, ... (README).
  auto cmd = make();
  for (int attempt = 1;; ++attempt) {
    const auto r = run_setup_step(runner, Id::python_deps, cmd, s);
    detail[prefix + "attempts"] = attempt;
    detail[prefix + "duration_ms"] =
        detail.value(prefix + "duration_ms", std::int64_t{0}) + r.duration_ms;
    if (r.exit_code == 0) return;
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
        go_on_uncached(Id::python_deps, s, runner, ictx, plan, detail).exit_code == 0) {
      went_uncached = true;
      cmd = make();
      continue;
    }
    detail["exit_code"] = r.exit_code;
    if (f.package) detail["package"] = *f.package;
    if (f.failure) detail["failure"] = std::string(report::hint_for(*f.failure).id);
    if (plan.enabled && plan.mode == environment::EnvMode::inplace) {
      // A half-installed venv on the shared volume helps nobody: remove it now.
      std::error_code ec;
      std::filesystem::remove_all(ictx.venv, ec);
    }
    throw StepError(Id::python_deps, FailureKind::failed, f.message, f.hint, detail);
  }
}

void write_work_file(const std::filesystem::path& path, const std::string& text) {
  if (const auto st = util::write_file_atomic(path, text); !st.ok()) {
    throw StepError(Id::python_deps, FailureKind::failed, st.error,
                    "check free space and permissions of TASKRUNNER_WORK_DIR");
  }
}

/// Writes <results>/requirements.lock and records it; a failure to write it is a warn (the
/// environment is fine, only the record is missing).
void record_lock(const Settings& s, const std::string& text, const spec::Lock& lock,
                 const std::string& source, nlohmann::json& detail) {
  const auto path = s.results_dir / "requirements.lock";
  nlohmann::json d = {{"path", path.string()},
                      {"digest", spec::lock_digest(lock)},
                      {"distributions", lock.distributions.size()},
                      {"source", source}};
  if (const auto st = util::write_file_atomic(path, text); !st.ok()) {
    report::log().warn("python_deps: the lock was not written: {}", st.error);
    d["error"] = st.error;
  }
  detail["lock"] = d;
}

spec::LockHeader header_for(const environment::InstallContext& ictx, const Index& index,
                            std::string resolver) {
  spec::LockHeader h;
  h.python = ictx.python_version;
  h.platform = environment::nix_system();
  h.index = index.redacted;
  h.resolved_at = report::rfc3339_utc(std::chrono::system_clock::now());
  h.resolver = std::move(resolver);
  return h;
}

/// A hit: the lock the entry was built from becomes this run's lock.
void lock_of_hit(const EnvPlan& plan, const Settings& s, nlohmann::json& detail) {
  if (!plan.hit || !plan.hit->lock) {
    detail["lock"] = {{"error", "the environment cache entry has no lock"}};
    return;
  }
  const auto text = environment::read_entry_lock(*plan.hit);
  auto lock = text ? spec::parse_lock(*text) : util::Result<spec::Lock>(text.status());
  if (!lock) {
    report::log().warn("python_deps: the entry's lock is not usable: {}", lock.error());
    detail["lock"] = {{"error", lock.error()}};
    return;
  }
  record_lock(s, *text, *lock, "env cache", detail);
}

}  // namespace

void python_deps(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec,
                 execution::ProcessRunner& runner, environment::InstallContext& ictx, EnvPlan& plan,
                 const Index& index) {
  if (spec.python_deps.empty() && !spec.lock) {
    cp.skip(Id::python_deps, "no Python dependencies requested");
    return;
  }
  cp.run(Id::python_deps, [&] {
    report::Outcome o;
    // The lock in the results dir always describes this run: an earlier attempt's goes first.
    std::error_code ec;
    std::filesystem::remove(s.results_dir / "requirements.lock", ec);
    o.detail["requested"] = spec.python_deps.size();
    o.detail["pinned"] = spec.lock.has_value();
    if (plan.result == "hit") {
      o.detail["env_cache"] = plan.record();
      o.detail["installed_distributions"] = environment::count_installed(ictx.venv);
      lock_of_hit(plan, s, o.detail);
      return o;
    }
    o.detail["installer"] = is_uv(ictx) ? "uv" : "pip";
    o.detail["index_url"] = index.redacted;
    o.detail["cache"] = ictx.cache_dir.has_value();
    if (spec.lock) {
      if (const auto why =
              spec::lock_mismatch(*spec.lock, ictx.python_version, environment::nix_system())) {
        const auto& h = report::hint_for(report::Failure::lock_mismatch);
        o.detail["failure"] = std::string(h.id);
        throw StepError(Id::python_deps, FailureKind::failed,
                        spec.lock_file->string() + ": " + *why, std::string(h.text), o.detail);
      }
    }
    const auto req_file = s.work_dir / "requirements.txt";
    const auto lock_file = s.work_dir / "requirements.lock";
    const auto report_file = s.work_dir / "install-report.json";
    bool went_uncached = false;
    spec::Lock lock;
    std::string source;
    if (spec.lock) {
      lock = *spec.lock;
      source = "REQUIREMENTS_LOCK";
      write_work_file(lock_file, spec::render_lock(lock));
    } else {
      write_work_file(req_file, spec::render_requirements(spec.python_deps));
      o.detail["requirements_file"] = req_file.string();
    }
    if (!spec.lock && is_uv(ictx)) {
      // uv has no installation report: resolve to a lock first, then install exactly that.
      const auto compiled = s.work_dir / "requirements.compiled";
      run_installer(
          [&] {
            return *environment::resolve_command(ictx, req_file, ictx.venv / "bin" / "python",
                                                 compiled);
          },
          s, runner, ictx, plan, index, o.detail, went_uncached, "resolve_");
      auto resolved = environment::read_resolution(compiled, /*pip_report=*/false);
      if (!resolved) {
        throw StepError(Id::python_deps, FailureKind::failed,
                        "uv pip compile wrote no usable lock: " + resolved.error(),
                        "read uv's output above; report it with the uv version");
      }
      lock = std::move(*resolved);
      source = "uv pip compile";
      write_work_file(lock_file, spec::render_lock(lock));
    }
    environment::InstallFlags flags;
    flags.pinned = spec.lock.has_value() || is_uv(ictx);
    if (!is_uv(ictx)) flags.report = report_file;
    // What is published gets its bytecode from publish_env, once, hash-based.
    flags.no_compile = plan.enabled && plan.build_lock.has_value();
    run_installer(
        [&] {
          return environment::install_command(ictx, flags.pinned ? lock_file : req_file, flags);
        },
        s, runner, ictx, plan, index, o.detail, went_uncached);
    if (!is_uv(ictx)) {
      // pip: what it installed, from its own report (hashes of the files it downloaded).
      auto reported = environment::read_resolution(report_file, /*pip_report=*/true);
      if (reported) {
        if (spec.lock && !spec::same_resolution(*reported, *spec.lock)) {
          report::log().warn("python_deps: pip installed other pins than the lock names");
        }
        lock.distributions = std::move(reported->distributions);
        source = spec.lock ? "REQUIREMENTS_LOCK (pip report)" : "pip report";
      } else if (!spec.lock) {
        report::log().warn("python_deps: no lock for this run: {}", reported.error());
        o.detail["lock"] = {{"error", reported.error()}};
        source.clear();
      }
    }
    std::optional<environment::LockToPublish> to_publish;
    if (!source.empty()) {
      const auto resolved_at = spec.lock ? spec.lock->header.resolved_at : std::nullopt;
      lock.header = header_for(ictx, index, source);
      if (resolved_at) lock.header.resolved_at = resolved_at;
      const auto text = spec::render_lock(lock);
      record_lock(s, text, lock, source, o.detail);
      to_publish = environment::LockToPublish{
          text, spec::lock_digest(lock), lock.distributions.size(), spec.lock.has_value(),
          report::rfc3339_utc(std::chrono::system_clock::now())};
    }
    o.detail["installed_distributions"] = environment::count_installed(ictx.venv);
    if (plan.enabled && plan.build_lock) {
      publish_env(plan, s, ictx.venv, runner, to_publish);
      o.detail["env_cache"] = plan.record();
    }
    return o;
  });
}

}  // namespace taskrunner::app::steps
