// The environment cache's part in a run (docs/env-cache.md): the key and lookup before
// `network`, a hit used at `venv`, a miss published after `python_deps`. The entry format itself
// (manifest, archive) is environment/env_cache.cpp's alone.
#include <unistd.h>

#include <chrono>

#include "steps.hpp"
#include "taskrunner/environment/entry_signature.hpp"
#include "taskrunner/environment/env_key.hpp"
#include "taskrunner/environment/resolved_lock.hpp"
#include "taskrunner/environment/snapshot.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::app::steps {
namespace {

std::int64_t ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

std::optional<util::FileLock> use_lock(const EnvPlan& plan) {
  auto lock = util::lock_file(plan.paths.use_lock, std::chrono::seconds(5), nullptr,
                              /*shared=*/true);
  if (!lock) return std::nullopt;  // prune may then remove the entry: the run goes on
  return std::move(*lock);
}

}  // namespace

nlohmann::json EnvPlan::record() const {
  auto d = detail;
  d["result"] = result;
  return d;
}

EnvPlan plan_env_cache(const Settings& s, const spec::TaskSpec& spec,
                       const tools::Installer& installer, const tools::Interpreter& interp,
                       const std::string& index) {
  EnvPlan plan;
  plan.mode = environment::choose_mode(s.env_mode, s.env_cache);
  plan.detail = {{"mode", std::string(environment::name(plan.mode))},
                 {"requested_mode", std::string(environment::name(s.env_mode))},
                 {"root", s.env_cache.string()},
                 {"filesystem", environment::filesystem_type(s.env_cache)}};
  for (const char* dir : {"envs", "locks", "venvs"}) {
    auto made = util::make_dirs(s.env_cache / dir);
    std::error_code ec;
    if (made.ok() && std::filesystem::is_symlink(s.env_cache / dir, ec)) {
      // Entries, locks and venvs stay inside the cache volume: a symlink is never followed.
      made.error = (s.env_cache / dir).string() + " is a symlink";
    }
    if (!made.ok()) {
      plan.detail["error"] = made.error;
      report::log().warn(
          "environment cache disabled: {} (hint: mount a writable volume at "
          "TASKRUNNER_ENV_CACHE or set TASKRUNNER_ENV_MODE=off)",
          made.error);
      return plan;
    }
  }
  // A read-only mount (EROFS) or a cache this uid may not write (EACCES, non-root pods).
  plan.read_only = ::access((s.env_cache / "envs").c_str(), W_OK) != 0;
  if (plan.read_only) plan.detail["read_only"] = true;
  environment::EnvKeyInput in;
  in.python = interp.executable.string();
  in.python_version = interp.version;
  in.platform = environment::nix_system();
  in.installer = installer.kind == tools::InstallerKind::uv ? "uv" : "pip";
  in.installer_version = installer.kind == tools::InstallerKind::uv ? installer.version : "";
  // A pinned run is keyed by its lock alone: equal locks share one entry whatever was requested.
  in.pinned = spec.lock.has_value();
  in.requirements = spec.lock ? spec::lock_requirements(*spec.lock) : spec.python_deps;
  in.index_urls = {index};
  in.venv_path =
      plan.mode == environment::EnvMode::snapshot ? (s.work_dir / "venv").string() : "(in place)";
  plan.enabled = true;
  plan.material = environment::env_key_material(in);
  plan.key = environment::env_key(in);
  plan.paths = environment::entry_paths(s.env_cache, plan.key, plan.mode);
  plan.detail["key"] = plan.key;
  auto found = environment::find_entry(s.env_cache, plan.key, plan.mode);
  if (found) plan.hit = std::move(*found);
  plan.result = plan.hit ? "hit" : "miss";
  if (!found) {
    report::log().warn("environment cache: {}; rebuilding", found.error());
    environment::reject_entry(s.env_cache, plan.paths.dir);
    plan.result = "rebuilt";
    plan.detail["rejected"] = found.error();
  }
  return plan;
}

bool use_env_hit(const Checkpoints& cp, EnvPlan& plan, const Settings& s,
                 std::filesystem::path& venv) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string error;
  plan.use_lock = use_lock(plan);
  const auto& entry = *plan.hit;
  bool ok = false;
  if (s.cache_key) {
    // Signed entries: nothing unverified is served (docs/security.md "Signed entries").
    const auto v0 = std::chrono::steady_clock::now();
    const auto verified = environment::verify_entry(*s.cache_key, entry.manifest, entry.venv_path,
                                                    plan.mode == environment::EnvMode::inplace);
    plan.detail["verify_ms"] = ms_since(v0);
    if (!verified.ok()) error = verified.error;
  }
  if (!error.empty()) {
    ok = false;  // rejected below, never used
  } else if (plan.mode == environment::EnvMode::snapshot) {
    std::error_code ec;
    std::filesystem::remove_all(venv, ec);
    int signal = 0;
    const auto stop = [&] {
      if (cp.supervisor != nullptr) signal = cp.supervisor->pending_termination();
      return signal != 0;
    };
    const auto info = environment::restore_snapshot(plan.paths.archive, venv, entry.archive_sha256,
                                                    entry.bytes, stop);
    if (!info && info.status().err == EINTR && signal != 0) {
      // Stopped, not broken: the entry stays; the half-restored venv is already removed.
      throw report::StepError(report::Id::venv, report::FailureKind::terminated,
                              "stopped by signal " + std::to_string(signal) +
                                  " while restoring the environment snapshot",
                              std::string(report::hint_for(report::Failure::terminated).text),
                              {{"reason", "terminated"}, {"signal", signal}}, signal);
    }
    if (!info) error = info.error();
    if (info) {
      ok = true;
      plan.detail["bytes_restored"] = info->archive_bytes;
      plan.detail["content_bytes"] = info->content_bytes;
      plan.detail["entries"] = info->entries;
    }
  } else {
    std::error_code ec;
    ok = std::filesystem::exists(entry.venv_path / "bin" / "python", ec);
    if (ok) {
      venv = entry.venv_path;
    } else {
      error = "in-place venv " + entry.venv_path.string() + " is missing";
    }
  }
  if (!ok) {
    report::log().warn("environment cache: entry {} rejected: {}; rebuilding",
                       plan.paths.dir.string(), error);
    plan.use_lock.reset();
    environment::reject_entry(s.env_cache, plan.paths.dir);
    plan.hit.reset();
    plan.result = "rebuilt";
    plan.detail["rejected"] = error;
    return false;
  }
  environment::record_hit(entry);
  plan.result = "hit";
  plan.detail["restore_ms"] = ms_since(t0);
  return true;
}

void publish_env(EnvPlan& plan, const Settings& s, const std::filesystem::path& venv,
                 execution::ProcessRunner& runner,
                 const std::optional<environment::LockToPublish>& lock) {
  const auto t0 = std::chrono::steady_clock::now();
  // Hash-based bytecode that is never checked against its source (PEP 552, `unchecked-hash`):
  // an entry's sources never change after publishing (in place: read-only to the user code;
  // snapshot: restored from a verified archive), so an import reads the .pyc without comparing
  // it with the .py's mtime or hashing the source, and a restore need not keep mtimes for it.
  // -f: also what is compiled already (uv venv's _virtualenv.py, pip inside a venv whose base
  // has none) — pip installs with --no-compile and uv compiles nothing, so that is little.
  execution::Command compile{venv / "bin" / "python",
                             {"-m", "compileall", "-q", "-f", "-j", "0", "--invalidation-mode",
                              "unchecked-hash", (venv / "lib").string()},
                             s.env,
                             std::nullopt,
                             std::nullopt};
  compile.env.erase("PYTHONDONTWRITEBYTECODE");
  const auto r = run_setup_step(runner, report::Id::python_deps, compile, s);
  if (r.exit_code != 0) {
    plan.detail["publish_error"] =
        "bytecode compilation failed (exit code " + std::to_string(r.exit_code) + ")";
    report::log().warn("environment cache: not published: bytecode compilation failed");
    plan.build_lock.reset();
    return;
  }
  // In place, this run goes on using the venv it publishes: hold the use lock from before the
  // entry appears, so a concurrent prune can never take it away in between.
  if (plan.mode == environment::EnvMode::inplace) plan.use_lock = use_lock(plan);
  const auto published = environment::publish_venv(s.env_cache, plan.key, plan.mode, venv,
                                                   plan.material, lock, s.cache_key);
  plan.detail["publish_ms"] = ms_since(t0);
  if (!published.error.empty()) {
    plan.detail["publish_error"] = published.error;
    report::log().warn("environment cache: not published: {}", published.error);
  } else if (published.kept_existing) {
    // A runner the build lock did not exclude (another node) published first: theirs stays.
    plan.detail["published_by_another"] = true;
    report::log().info("environment cache: another runner published this key first; kept theirs");
  } else {
    plan.detail["bytes"] = published.bytes;
  }
  plan.build_lock.reset();
}

void refresh_resolution(EnvPlan& plan, const Settings& s, const spec::TaskSpec& spec,
                        execution::ProcessRunner& runner, const environment::InstallContext& ictx) {
  if (!s.resolve_max_age || !plan.hit || spec.lock || !plan.hit->lock || plan.hit->lock->pinned ||
      plan.read_only) {
    return;
  }
  const auto now = std::chrono::system_clock::now();
  const auto age =
      std::chrono::duration_cast<std::chrono::milliseconds>(now - plan.hit->lock->resolved_at);
  if (age <= *s.resolve_max_age) return;
  nlohmann::json r = {{"age_s", age.count() / 1000},
                      {"max_age_s", s.resolve_max_age->count() / 1000}};
  const auto keep = [&](const std::string& why) {
    report::log().warn("environment cache: cannot resolve again ({}); using the entry as built",
                       why);
    r["error"] = why;
    plan.detail["re_resolved"] = r;
  };
  const auto req = s.work_dir / "requirements.txt";
  const auto out = s.work_dir / "requirements.re-resolved";
  if (const auto st = util::write_file_atomic(req, spec::render_requirements(spec.python_deps));
      !st.ok()) {
    return keep(st.error);
  }
  const bool pip = ictx.installer.kind != tools::InstallerKind::uv;
  const auto cmd = environment::resolve_command(ictx, req, ictx.base_python, out, /*refresh=*/true);
  if (!cmd) return keep("pip resolves with the base interpreter's pip, and it has none");
  std::error_code ec;
  std::filesystem::remove(out, ec);
  const auto t0 = std::chrono::steady_clock::now();
  const auto ran = run_setup_step(runner, report::Id::venv, *cmd, s);
  r["duration_ms"] = ms_since(t0);
  if (ran.exit_code != 0) return keep("the resolver exited with " + std::to_string(ran.exit_code));
  const auto fresh = environment::read_resolution(out, pip);
  if (!fresh) return keep(fresh.error());
  const auto old_text = environment::read_entry_lock(*plan.hit);
  const auto old =
      old_text ? spec::parse_lock(*old_text) : util::Result<spec::Lock>(old_text.status());
  r["digest"] = spec::lock_digest(*fresh);
  if (old && spec::same_resolution(*old, *fresh)) {
    // Same pins: the entry is as good as new.
    r["changed"] = false;
    const auto st = environment::renew_resolution(*plan.hit, now);
    r["renewed"] = st.ok();
    if (!st.ok()) r["error"] = st.error;
    plan.detail["re_resolved"] = r;
    return;
  }
  r["changed"] = true;
  if (old) r["old_digest"] = spec::lock_digest(*old);
  report::log().info(
      "environment cache: the request resolves differently now than when entry {} was built; "
      "building a new one",
      plan.paths.dir.string());
  environment::reject_entry(s.env_cache, plan.paths.dir);
  plan.hit.reset();
  plan.result = "rebuilt";
  plan.detail["rejected"] = "the request resolves to another lock now";
  plan.detail["re_resolved"] = r;
}

execution::RunResult go_on_uncached(report::Id id, const Settings& s,
                                    execution::ProcessRunner& runner,
                                    environment::InstallContext& ictx, EnvPlan& plan,
                                    nlohmann::json& detail) {
  std::error_code ec;
  if (plan.enabled && plan.mode == environment::EnvMode::inplace) {
    std::filesystem::remove_all(ictx.venv, ec);
  }
  report::log().warn(
      "{}: a cache volume is full (ENOSPC): going on without the environment cache and the "
      "installer cache; nothing is published (hint: prune or grow the cache PVC)",
      report::name(id));
  plan.enabled = false;
  plan.build_lock.reset();
  plan.use_lock.reset();
  plan.detail["error"] = "ENOSPC: went on uncached";
  detail["uncached_after_enospc"] = true;
  ictx.venv = s.work_dir / "venv";
  ictx.cache_dir.reset();
  detail["path"] = ictx.venv.string();
  std::filesystem::remove_all(ictx.venv, ec);
  return make_venv(runner, id, ictx, s, detail);
}

}  // namespace taskrunner::app::steps
