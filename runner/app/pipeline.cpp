#include "taskrunner/app/pipeline.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "taskrunner/environment/env_cache.hpp"
#include "taskrunner/environment/env_key.hpp"
#include "taskrunner/environment/install.hpp"
#include "taskrunner/environment/snapshot.hpp"
#include "taskrunner/environment/system_env.hpp"
#include "taskrunner/execution/exec_mode.hpp"
#include "taskrunner/execution/user_code.hpp"
#include "taskrunner/preflight/cache_mounts.hpp"
#include "taskrunner/preflight/disk_space.hpp"
#include "taskrunner/preflight/network.hpp"
#include "taskrunner/preflight/runtime.hpp"
#include "taskrunner/report/error.hpp"
#include "taskrunner/report/hints.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/spec/index_url.hpp"
#include "taskrunner/tools/nix.hpp"
#include "taskrunner/tools/python.hpp"
#include "taskrunner/tools/uv.hpp"
#include "taskrunner/util/fs.hpp"
#include "taskrunner/util/lock.hpp"

namespace taskrunner::app {
namespace {

using preflight::Outcome;
using report::ErrorInfo;
using report::FailureKind;
using report::Id;
using report::Status;
using report::StepError;

/// How long `nix --version` may take for a real Nix (nix-portable's first start may unpack for
/// longer and gets the install timeout).
constexpr std::chrono::milliseconds kNixProbe{10000};

/// Records checkpoints around the work of each step.
struct Checkpoints {
  report::Recorder& rec;
  execution::Supervisor* supervisor;  // null in tests without signal handling
  bool doctor;                        // diagnosis: record every failure and go on to the next check
  /// Set when a failed background system_deps build stopped the foreground step: that step's
  /// own error is then only a consequence and is recorded as "cancelled".
  const bool* cancelled_by_system_deps = nullptr;

  /// Starts checkpoint `id`; if a terminating signal arrived since the last step, records it as
  /// failed (reason "terminated") and throws instead.
  void start(Id id) const {
    rec.start(id);
    if (const int sig = supervisor != nullptr ? supervisor->pending_termination() : 0) {
      const StepError e(id, FailureKind::terminated,
                        "stopped by signal " + std::to_string(sig) + " before " +
                            std::string(report::name(id)) + " began",
                        "the pod is being stopped (cancelled workflow or deadline); nothing to "
                        "fix in the task",
                        {{"reason", "terminated"}, {"signal", sig}}, sig);
      rec.finish(id, Status::failed, e.detail(), ErrorInfo{e.what(), e.hint()});
      throw e;
    }
    if (cancelled_by_system_deps != nullptr && *cancelled_by_system_deps) {
      throw_cancelled(id, nlohmann::json::object());
    }
  }

  /// Records `id` as stopped because the background system_deps build failed, and throws.
  [[noreturn]] void throw_cancelled(Id id, nlohmann::json detail) const {
    detail["reason"] = "cancelled";
    const StepError c(id, FailureKind::failed,
                      std::string(report::name(id)) + " was stopped because system_deps failed",
                      "fix system_deps first (its error is recorded in its checkpoint)", detail);
    rec.finish(id, Status::failed, c.detail(), ErrorInfo{c.what(), c.hint()});
    throw c;
  }

  /// Records start, runs `step`, records its outcome. A StepError is recorded and rethrown;
  /// a `failed` outcome becomes a StepError. In doctor mode neither is thrown.
  void run(Id id, const std::function<Outcome()>& step) const {
    start(id);
    Outcome o;
    try {
      o = step();
    } catch (const StepError& e) {
      if (cancelled_by_system_deps != nullptr && *cancelled_by_system_deps) {
        throw_cancelled(id, e.detail());
      }
      rec.finish(id, report::status_for(e.kind()), e.detail(), ErrorInfo{e.what(), e.hint()});
      if (doctor) return;
      throw;
    }
    rec.finish(id, o.status, o.detail, o.error);
    if (o.status == Status::warn && o.error) {
      report::log().warn("{}: {} (hint: {})", report::name(id), o.error->message, o.error->hint);
    }
    if (o.status == Status::failed && !doctor) {
      // Recorded above; the boundary error only carries the exit code and summary from here.
      throw StepError(id, FailureKind::failed, o.error ? o.error->message : "failed",
                      o.error ? o.error->hint : "");
    }
  }
};

/// `limit` shortened so the step ends kGraceMargin + grace before ARGO_DEADLINE, leaving time
/// to stop it and record its checkpoint. `by_deadline` tells whether the deadline decided.
std::optional<std::chrono::milliseconds> bounded(std::optional<std::chrono::milliseconds> limit,
                                                 const Settings& s, bool& by_deadline) {
  by_deadline = false;
  if (!s.deadline) return limit;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        *s.deadline - std::chrono::system_clock::now()) -
                    s.grace - kGraceMargin;
  const auto rest = std::max(left, std::chrono::milliseconds(0));
  if (!limit || rest < *limit) {
    by_deadline = true;
    return rest;
  }
  return limit;
}

/// Runs an installer step, turning timeouts, signals and non-zero exits into StepErrors.
execution::RunResult run_setup_step(execution::ProcessRunner& runner, Id id,
                                    const execution::Command& cmd, const Settings& s) {
  execution::RunOptions opts;
  bool by_deadline = false;
  opts.timeout = bounded(s.install_timeout, s, by_deadline);
  opts.grace = s.grace;
  opts.stdout_to_stderr = true;
  auto r = runner.run(cmd, opts);
  nlohmann::json detail = {{"command", cmd.executable.filename().string()},
                           {"duration_ms", r.duration_ms}};
  if (!r.started) {
    throw StepError(id, FailureKind::failed, r.start_error,
                    "check that the file exists, is executable and matches this CPU", detail);
  }
  if (r.cancelled) {
    detail["reason"] = "cancelled";
    throw StepError(id, FailureKind::failed,
                    std::string(report::name(id)) + " was stopped because system_deps failed",
                    "fix system_deps first (its error is recorded in its checkpoint)", detail);
  }
  if (r.interrupted_by != 0) {
    detail["reason"] = "terminated";
    detail["signal"] = r.interrupted_by;
    throw StepError(id, FailureKind::terminated,
                    std::string(report::name(id)) + " was stopped by signal " +
                        std::to_string(r.interrupted_by),
                    "the pod is being stopped (cancelled workflow or deadline); nothing to fix "
                    "in the task",
                    detail, r.interrupted_by);
  }
  if (r.timed_out && by_deadline) {
    detail["timeout_ms"] = opts.timeout->count();
    detail["reason"] = "deadline";
    throw StepError(id, FailureKind::timeout,
                    std::string(report::name(id)) +
                        " was stopped: the workflow's ARGO_DEADLINE "
                        "leaves no more time",
                    "give the workflow a later activeDeadlineSeconds, or make the setup faster",
                    detail);
  }
  if (r.timed_out) {
    detail["timeout_ms"] = s.install_timeout.count();
    detail["failure"] = std::string(report::hint_for(report::Failure::step_timeout).id);
    throw StepError(id, FailureKind::timeout,
                    std::string(report::name(id)) + " did not finish within " +
                        std::to_string(s.install_timeout.count() / 1000) + " s",
                    "raise TASKRUNNER_INSTALL_TIMEOUT (seconds) or check the index and network "
                    "speed; the installer output above shows where it stalled",
                    detail);
  }
  return r;
}

/// The system_deps step between its start and its end.
struct SystemDeps {
  environment::SystemEnvRequest request;
  std::filesystem::path out_link;
  std::optional<std::filesystem::path> store_path;  ///< set once the environment exists
  std::unique_ptr<execution::BackgroundRun> build;  ///< the cold build, while it runs
  nlohmann::json detail = nlohmann::json::object();
};

/// The `nix` checkpoint's work once a Nix was found: its mode, store and version. nix-portable's
/// first start unpacks into NP_LOCATION, which is unsafe for two processes at once, so its
/// version probe (the first start of this pod) runs under a lock on the volume. When the
/// system environment is already built (`warm`), no Nix process is started at all.
Outcome check_nix(const tools::NixTool& nix, const Settings& s, execution::ProcessRunner& runner,
                  bool warm) {
  Outcome o;
  const bool portable = nix.mode() == tools::StoreMode::portable;
  o.detail = {{"path", nix.path.string()},
              {"kind", nix.kind},
              {"source", nix.source},
              {"store_mode", portable ? "portable" : "native"},
              {"store_dir", tools::real_store_dir(nix, s.env).string()}};
  if (warm) {
    o.detail["version"] = nullptr;
    o.detail["reason"] = "system environment already built: Nix not started";
    return o;
  }
  if (portable && s.doctor) {
    o.detail["version"] = nullptr;
    o.detail["reason"] =
        "doctor writes nothing: nix-portable not started (its first start "
        "unpacks into NP_LOCATION)";
    return o;
  }
  std::optional<util::FileLock> lock;
  if (portable) {
    const auto np = tools::np_location(s.env);
    o.detail["np_location"] = np.string();
    o.detail["runtime"] = util::get(s.env, "NP_RUNTIME").value_or("auto");
    std::string error;
    bool waited = false;
    if (const auto made = util::make_dirs(np); !made.ok()) {
      throw StepError(Id::nix, FailureKind::failed, made.error,
                      "set NP_LOCATION to a writable directory on the Nix volume", o.detail);
    }
    lock = util::lock_file(tools::portable_startup_lock(s.env), s.install_timeout, error, &waited);
    if (!lock) {
      throw StepError(Id::nix, FailureKind::failed, error,
                      "another pod's nix-portable start-up holds the lock; if none runs, check "
                      "that NP_LOCATION's volume supports flock",
                      o.detail);
    }
    o.detail["startup_lock_waited"] = waited;
  }
  std::string error;
  const auto version = tools::nix_version(
      nix, s.env, runner, portable ? std::chrono::milliseconds(s.install_timeout) : kNixProbe,
      error);
  if (!version) {
    throw StepError(Id::nix, FailureKind::failed, error,
                    portable ? "nix-portable could not start: check NP_RUNTIME (bwrap needs user "
                               "namespaces; proot works without) and the runtime checkpoint"
                             : "check the nix installation and that the /nix volume is mounted",
                    o.detail);
  }
  o.detail["version"] = *version;
  return o;
}

/// The key, its out-link and whether that link already holds the environment (no process).
SystemDeps prepare_system_deps(const tools::NixTool& nix, const spec::TaskSpec& spec,
                               const Settings& s) {
  SystemDeps sys;
  sys.request.attrs = spec.system_deps;
  sys.request.nixpkgs = s.nixpkgs;
  sys.request.nix_path = util::get(s.env, "NIX_PATH").value_or("");
  sys.request.system = environment::nix_system();
  const auto key = environment::system_env_key(sys.request);
  const auto roots = s.nix_roots.value_or(environment::default_roots_dir(nix, s.env));
  sys.out_link = roots / key;
  sys.detail = {{"key", key},
                {"attributes", spec.system_deps},
                {"nixpkgs", s.nixpkgs.empty() ? "<nixpkgs>" : s.nixpkgs},
                {"system", sys.request.system},
                {"out_link", sys.out_link.string()},
                {"store_mode", nix.mode() == tools::StoreMode::portable ? "portable" : "native"}};
  if (auto hit = environment::valid_root(nix, s.env, sys.out_link)) {
    sys.store_path = *hit;
    sys.detail["cache"] = "hit";
    sys.detail["store_path"] = hit->string();
    return sys;
  }
  sys.detail["cache"] = "miss";
  return sys;
}

/// Starts the single-flight build of a cold key in the background (taskrunner nix-build-once →
/// nix-build). A failing build cancels the foreground step so the run stops early.
void start_system_deps(SystemDeps& sys, const tools::NixTool& nix, const spec::TaskSpec& spec,
                       const Settings& s, execution::ProcessRunner& runner, bool& cancelled) {
  const auto roots = sys.out_link.parent_path();
  const auto key = sys.out_link.filename().string();
  if (const auto made = util::make_dirs(roots); !made.ok()) {
    throw StepError(Id::system_deps, FailureKind::failed, made.error,
                    "make TASKRUNNER_NIX_ROOTS (the GC-root directory) writable", sys.detail);
  }
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
  execution::RunOptions opts;
  bool by_deadline = false;
  opts.timeout = bounded(s.install_timeout, s, by_deadline);
  opts.grace = s.grace;
  opts.stdout_to_stderr = true;
  opts.line_prefix = "[system_deps] ";
  report::log().info("system_deps: building {} (key {})", nlohmann::json(spec.system_deps).dump(),
                     key.substr(0, 12));
  sys.build = runner.start(once, opts, [&runner, &cancelled](const execution::RunResult& r) {
    if (r.exit_code != 0 || r.timed_out || !r.started) {
      cancelled = true;
      runner.cancel_running();
    }
  });
}

/// The outcome of a finished build: nullopt when the environment exists (sys.store_path and
/// sys.detail are filled in), else the error to record and raise.
std::optional<StepError> system_deps_failure(const execution::RunResult& r, SystemDeps& sys,
                                             const Settings& s, const tools::NixTool& nix) {
  auto& d = sys.detail;
  d["duration_ms"] = r.duration_ms;
  if (!r.started) {
    return StepError(Id::system_deps, FailureKind::failed, r.start_error,
                     "taskrunner could not start nix-build", d);
  }
  if (r.interrupted_by != 0) {
    d["reason"] = "terminated";
    d["signal"] = r.interrupted_by;
    return StepError(Id::system_deps, FailureKind::terminated,
                     "system_deps was stopped by signal " + std::to_string(r.interrupted_by),
                     "the pod is being stopped (cancelled workflow or deadline); nothing to fix "
                     "in the task",
                     d, r.interrupted_by);
  }
  if (r.timed_out) {
    d["timeout_ms"] = s.install_timeout.count();
    return StepError(Id::system_deps, FailureKind::timeout,
                     "building the system dependencies did not finish within " +
                         std::to_string(s.install_timeout.count() / 1000) + " s",
                     "raise TASKRUNNER_INSTALL_TIMEOUT (seconds), or check the substituters' "
                     "reachability in the [system_deps] output above",
                     d);
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
  const auto root = environment::valid_root(nix, s.env, sys.out_link);
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

/// The environment cache's part in this run (docs/env-cache.md), decided before `network` so a
/// hit can skip it.
struct EnvPlan {
  bool enabled = false;
  environment::EnvMode mode = environment::EnvMode::off;
  std::string key;
  std::string material;  ///< what the key hashes (JSON)
  environment::EntryPaths paths;
  std::optional<environment::Entry> hit;
  std::string result = "off";  ///< "hit", "miss", "rebuilt" or "off"
  std::optional<util::FileLock> build_lock;
  std::optional<util::FileLock> use_lock;
  nlohmann::json detail = nlohmann::json::object();
};

/// Computes the key and looks the entry up. No process, no writes besides the cache's dirs.
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
    if (const auto made = util::make_dirs(s.env_cache / dir); !made.ok()) {
      plan.detail["error"] = made.error;
      report::log().warn(
          "environment cache disabled: {} (hint: mount a writable volume at "
          "TASKRUNNER_ENV_CACHE or set TASKRUNNER_ENV_MODE=off)",
          made.error);
      return plan;
    }
  }
  environment::EnvKeyInput in;
  in.python = interp.executable.string();
  in.python_version = interp.version;
  in.platform = environment::nix_system();
  in.installer = installer.kind == tools::InstallerKind::uv ? "uv" : "pip";
  in.installer_version = installer.kind == tools::InstallerKind::uv ? installer.version : "";
  in.requirements = spec.python_deps;
  in.index_urls = {index};
  in.venv_path =
      plan.mode == environment::EnvMode::snapshot ? (s.work_dir / "venv").string() : "(in place)";
  plan.enabled = true;
  plan.material = environment::env_key_material(in);
  plan.key = environment::env_key(in);
  plan.paths = environment::entry_paths(s.env_cache, plan.key, plan.mode);
  plan.detail["key"] = plan.key;
  std::string error;
  plan.hit = environment::find_entry(s.env_cache, plan.key, plan.mode, error);
  plan.result = plan.hit ? "hit" : "miss";
  if (!plan.hit && !error.empty()) {
    report::log().warn("environment cache: {}; rebuilding", error);
    environment::reject_entry(s.env_cache, plan.paths.dir);
    plan.result = "rebuilt";
    plan.detail["rejected"] = error;
  }
  return plan;
}

/// Uses a hit: restores the snapshot into `ictx.venv` or points `ictx.venv` at the in-place
/// venv, holding the entry's use lock for the rest of the run. false (entry rejected and
/// removed, `plan.result` = "rebuilt") when the entry is damaged.
bool use_env_hit(EnvPlan& plan, const Settings& s, environment::InstallContext& ictx) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string error;
  plan.use_lock = util::lock_file(plan.paths.use_lock, std::chrono::seconds(5), error, nullptr,
                                  /*shared=*/true);
  const auto& entry = *plan.hit;
  bool ok = false;
  if (plan.mode == environment::EnvMode::snapshot) {
    std::error_code ec;
    std::filesystem::remove_all(ictx.venv, ec);
    const auto& archive = entry.manifest.at("archive");
    const auto info = environment::restore_snapshot(
        plan.paths.archive, ictx.venv, archive.at("sha256").get<std::string>(),
        archive.at("bytes").get<std::uint64_t>(), error);
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
      ictx.venv = entry.venv_path;
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
  plan.detail["restore_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  return true;
}

/// After a successful install: compiles bytecode, then publishes the venv (snapshot archive or
/// in place) and releases the build lock. A failure here is logged, never fails the run.
void publish_env(EnvPlan& plan, const Settings& s, const environment::InstallContext& ictx,
                 execution::ProcessRunner& runner) {
  const auto t0 = std::chrono::steady_clock::now();
  execution::Command compile{ictx.venv / "bin" / "python",
                             {"-m", "compileall", "-q", "-j", "0", (ictx.venv / "lib").string()},
                             s.env,
                             std::nullopt};
  compile.env.erase("PYTHONDONTWRITEBYTECODE");
  const auto r = run_setup_step(runner, Id::python_deps, compile, s);
  if (r.exit_code != 0) {
    plan.detail["publish_error"] =
        "bytecode compilation failed (exit code " + std::to_string(r.exit_code) + ")";
    report::log().warn("environment cache: not published: bytecode compilation failed");
    plan.build_lock.reset();
    return;
  }
  nlohmann::json manifest = {{"format", environment::kEnvFormat},
                             {"key", plan.key},
                             {"mode", std::string(environment::name(plan.mode))},
                             {"venv_path", ictx.venv.string()},
                             {"created_at", report::rfc3339_utc(std::chrono::system_clock::now())},
                             {"inputs", nlohmann::json::parse(plan.material)}};
  const auto published = environment::publish_entry(
      s.env_cache, plan.key, plan.mode, manifest,
      [&](const std::filesystem::path& tmp, nlohmann::json& m) -> std::string {
        if (plan.mode == environment::EnvMode::inplace) {
          m["venv_bytes"] = environment::tree_bytes(ictx.venv);
          return "";
        }
        std::string error;
        const auto info = environment::write_snapshot(ictx.venv, tmp / "venv.tar.zst", error);
        if (!info) return error;
        m["archive"] = {
            {"name", "venv.tar.zst"}, {"bytes", info->archive_bytes}, {"sha256", info->sha256}};
        m["content_bytes"] = info->content_bytes;
        m["entries"] = info->entries;
        return "";
      });
  plan.detail["publish_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  if (!published.error.empty()) {
    plan.detail["publish_error"] = published.error;
    report::log().warn("environment cache: not published: {}", published.error);
  } else {
    std::string error;
    if (auto e = environment::find_entry(s.env_cache, plan.key, plan.mode, error)) {
      plan.detail["bytes"] = e->bytes;
    }
    if (plan.mode == environment::EnvMode::inplace) {
      plan.use_lock = util::lock_file(plan.paths.use_lock, std::chrono::seconds(5), error, nullptr,
                                      /*shared=*/true);
    }
  }
  plan.build_lock.reset();
}

/// venv and python_deps, in order.
void install_python(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec,
                    execution::ProcessRunner& runner, const tools::Installer& installer,
                    const preflight::CacheCheck& cache,
                    const std::optional<std::filesystem::path>& cache_dir,
                    const std::string& redacted_index, environment::InstallContext& ictx,
                    EnvPlan& plan, std::optional<tools::Interpreter> interp) {
  const bool need_python_deps = !spec.python_deps.empty();
  ictx.installer = installer;
  ictx.cache_dir = cache_dir;
  ictx.cache_on_same_filesystem = cache.hardlinks;
  ictx.index_url = spec.index_url;
  ictx.progress = ::isatty(STDERR_FILENO) != 0;
  ictx.base_env = s.env;

  cp.run(Id::venv, [&] {
    Outcome o;
    std::string error;
    if (!interp) interp = tools::resolve_interpreter(s.python, s.env, s.work_dir, runner, error);
    if (!interp) {
      throw StepError(Id::venv, FailureKind::interpreter_missing, error,
                      std::string(report::hint_for(report::Failure::interpreter_missing).text),
                      {{"failure", report::hint_for(report::Failure::interpreter_missing).id}});
    }
    ictx.base_python = interp->executable;
    ictx.base_has_pip = interp->has_pip;
    o.detail["base_python"] = interp->executable.string();
    o.detail["requested_python"] = interp->requested.string();
    o.detail["python_version"] = interp->version;
    o.detail["resolved_from_cache"] = interp->from_cache;
    o.detail["path"] = ictx.venv.string();
    o.detail["installer"] = installer.kind == tools::InstallerKind::uv ? "uv" : "pip";
    if (plan.enabled) {
      if (plan.hit && use_env_hit(plan, s, ictx)) {
        o.detail["path"] = ictx.venv.string();
        o.detail["env_cache"] = plan.detail;
        o.detail["env_cache"]["result"] = plan.result;
        return o;
      }
      // Miss: one runner per key builds; the others wait here and then use its entry.
      bool waited = false;
      plan.build_lock = util::lock_file(plan.paths.build_lock, s.install_timeout, error, &waited);
      if (!plan.build_lock) {
        report::log().warn("environment cache: {}; building without it", error);
        plan.enabled = false;
        plan.detail["error"] = error;
      } else if (waited) {
        plan.hit = environment::find_entry(s.env_cache, plan.key, plan.mode, error);
        plan.detail["waited_for_other_builder"] = true;
        if (plan.hit && use_env_hit(plan, s, ictx)) {
          plan.build_lock.reset();
          o.detail["path"] = ictx.venv.string();
          o.detail["env_cache"] = plan.detail;
          o.detail["env_cache"]["result"] = plan.result;
          return o;
        }
      }
      if (plan.enabled && plan.mode == environment::EnvMode::inplace) {
        ictx.venv = environment::inplace_venv_dir(s.env_cache, plan.key);
        o.detail["path"] = ictx.venv.string();
      }
      o.detail["env_cache"] = plan.detail;
      o.detail["env_cache"]["result"] = plan.result;
    }
    // A fresh venv every run: remove what an earlier run left (uv and venv differ on reuse).
    std::error_code ec;
    std::filesystem::remove_all(ictx.venv, ec);
    if (ec) {
      throw StepError(Id::venv, FailureKind::failed,
                      util::errno_message("cannot remove the old venv", ictx.venv, ec.value()),
                      "check permissions of TASKRUNNER_WORK_DIR", o.detail);
    }
    const auto r = run_setup_step(runner, Id::venv, environment::venv_command(ictx), s);
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

  cp.run(Id::python_deps, [&] {
    Outcome o;
    if (!need_python_deps) {
      o.status = Status::skipped;
      o.detail["reason"] = "no Python dependencies requested";
      return o;
    }
    if (plan.result == "hit") {
      o.detail["requested"] = spec.python_deps.size();
      o.detail["env_cache"] = plan.detail;
      o.detail["env_cache"]["result"] = "hit";
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
    o.detail["requested"] = spec.python_deps.size();
    o.detail["installer"] = installer.kind == tools::InstallerKind::uv ? "uv" : "pip";
    o.detail["index_url"] = redacted_index;
    o.detail["cache"] = cache_dir.has_value();
    // Transient network failures are retried: after 1 s, then 3 s, ... (README).
    const auto install = environment::install_command(ictx, req_file);
    std::int64_t total_ms = 0;
    for (int attempt = 1;; ++attempt) {
      const auto r = run_setup_step(runner, Id::python_deps, install, s);
      total_ms += r.duration_ms;
      o.detail["attempts"] = attempt;
      o.detail["duration_ms"] = total_ms;
      if (r.exit_code == 0) break;
      const auto f =
          environment::diagnose_install_failure(r.output_tail, r.exit_code, redacted_index);
      if (f.transient && attempt <= s.install_retries) {
        const auto delay = std::chrono::milliseconds(1000 * (2 * attempt - 1));
        report::log().warn("python_deps: {}; retrying in {} s (attempt {} of {})", f.message,
                           delay.count() / 1000, attempt + 1, s.install_retries + 1);
        std::this_thread::sleep_for(delay);
        continue;
      }
      o.detail["exit_code"] = r.exit_code;
      if (f.package) o.detail["package"] = *f.package;
      if (f.failure) o.detail["failure"] = std::string(report::hint_for(*f.failure).id);
      throw StepError(Id::python_deps, FailureKind::failed, f.message, f.hint, o.detail);
    }
    o.detail["installed_distributions"] = environment::count_installed(ictx.venv);
    if (plan.enabled && plan.build_lock) {
      publish_env(plan, s, ictx, runner);
      o.detail["env_cache"] = plan.detail;
      o.detail["env_cache"]["result"] = plan.result;
    }
    return o;
  });
}

int run_steps(const Settings& s, const spec::TaskSpec& spec, report::Recorder& rec,
              execution::ProcessRunner& runner, execution::Supervisor* supervisor) {
  bool cancelled_by_system_deps = false;
  const Checkpoints cp{rec, supervisor, s.doctor, &cancelled_by_system_deps};
  const std::string index = spec.index_url.value_or(std::string(spec::kDefaultIndexUrl));
  const std::string redacted_index = spec::redact_url(index);
  const bool need_python_deps = !spec.python_deps.empty();

  // runtime: the container, plus the work and results dirs we are about to use.
  cp.run(Id::runtime, [&] {
    Outcome o = preflight::check_runtime("/sys/fs/cgroup", !spec.system_deps.empty(),
                                         util::get(s.env, "PATH").value_or(""));
    for (const auto& dir : {s.work_dir, s.results_dir}) {
      std::string error;
      const auto made = util::make_dirs(dir);
      if (!made.ok() || !util::probe_writable(dir, error)) {
        throw StepError(Id::runtime, FailureKind::failed, made.ok() ? error : made.error,
                        "mount a writable volume there or set TASKRUNNER_WORK_DIR / "
                        "TASKRUNNER_RESULTS_DIR to a writable path",
                        o.detail);
      }
    }
    o.detail["work_dir"] = s.work_dir.string();
    o.detail["results_dir"] = s.results_dir.string();
    if (s.doctor) return o;  // diagnosis only: no log file, no checkpoints.json
    if (const auto st = report::open_log_file(s.results_dir / "taskrunner.log"); !st.ok()) {
      throw StepError(Id::runtime, FailureKind::failed, st.error,
                      "make TASKRUNNER_RESULTS_DIR writable");
    }
    rec.set_output(s.results_dir / "checkpoints.json");
    return o;
  });

  preflight::CacheCheck cache;
  cp.run(Id::cache_mounts, [&] {
    cache = preflight::check_cache_mounts(spec.use_cache, s.uv_cache_dir, s.work_dir);
    return cache.outcome;
  });
  const std::optional<std::filesystem::path> cache_dir =
      cache.usable ? std::optional(s.uv_cache_dir) : std::nullopt;

  cp.run(Id::disk_space,
         [&] { return preflight::check_disk_space(s.work_dir, cache_dir, s.min_free_bytes); });

  // The installer and the interpreter are found before `network` (and recorded at `uv` and
  // `venv`), so the environment cache can be looked up first and a hit skips the network check.
  std::string installer_error;
  const auto found = tools::find_installer(s.uv, s.tools_dir, util::get(s.env, "PATH").value_or(""),
                                           s.env, runner, installer_error);
  EnvPlan plan;
  std::optional<tools::Interpreter> interp;
  if (need_python_deps && !s.doctor && s.env_mode != environment::EnvMode::off && found) {
    std::string error;
    interp = tools::resolve_interpreter(s.python, s.env, s.work_dir, runner, error);
    if (interp) plan = plan_env_cache(s, spec, *found, *interp, index);
  }

  cp.run(Id::network, [&] {
    auto o = preflight::check_network((need_python_deps && !plan.hit) || s.doctor, index,
                                      s.network_timeout);
    if (plan.hit) o.detail["reason"] = "environment cache hit: nothing to download";
    return o;
  });

  tools::Installer installer;
  cp.run(Id::uv, [&] {
    Outcome o;
    const std::string& error = installer_error;
    if (!found) {
      throw StepError(
          Id::uv, FailureKind::failed, error,
          "point TASKRUNNER_UV at a working uv binary, or unset it to fall back to pip");
    }
    installer = *found;
    o.detail["tools_dir"] = s.tools_dir.string();
    if (installer.kind == tools::InstallerKind::uv) {
      o.detail["installer"] = "uv";
      o.detail["path"] = installer.uv.string();
      o.detail["version"] = installer.version;
      o.detail["source"] = installer.source;
    } else {
      o.detail["installer"] = "pip";
      o.status = Status::warn;
      o.error = ErrorInfo{error.empty() ? "uv not found; using python -m venv and pip" : error,
                          "put a uv binary at " + (s.tools_dir / "uv").string() +
                              " (the cache volume) or set TASKRUNNER_UV for faster installs"};
    }
    return o;
  });

  std::optional<tools::NixTool> nix;
  SystemDeps sys;
  cp.run(Id::nix, [&] {
    Outcome o;
    nix = tools::find_nix(s.nix_portable, s.tools_dir, util::get(s.env, "PATH").value_or(""));
    if (spec.system_deps.empty() && !(s.doctor && nix)) {
      o.status = Status::skipped;
      o.detail["reason"] = "no system dependencies requested";
      return o;
    }
    if (!nix) {
      throw StepError(Id::nix, FailureKind::failed,
                      "system dependencies were requested but neither nix-portable nor nix was "
                      "found",
                      "put nix-portable at " + (s.tools_dir / "nix-portable").string() +
                          " or set TASKRUNNER_NIX_PORTABLE; with the Nix store volume mounted at "
                          "/nix, a nix on PATH works too");
    }
    if (!spec.system_deps.empty()) sys = prepare_system_deps(*nix, spec, s);
    return check_nix(*nix, s, runner, sys.store_path.has_value());
  });

  if (s.doctor) return 0;

  // system_deps: a warm key is decided here; a cold one builds in the background while the
  // venv and Python dependencies are installed, and is finished after python_deps.
  if (spec.system_deps.empty()) {
    cp.run(Id::system_deps, [&] {
      Outcome o;
      o.status = Status::skipped;
      o.detail["reason"] = "no system dependencies requested";
      return o;
    });
  } else {
    cp.start(Id::system_deps);
    try {
      if (!sys.store_path) {
        start_system_deps(sys, *nix, spec, s, runner, cancelled_by_system_deps);
      }
    } catch (const StepError& e) {
      rec.finish(Id::system_deps, report::status_for(e.kind()), e.detail(),
                 ErrorInfo{e.what(), e.hint()});
      throw;
    }
    if (!sys.build) rec.finish(Id::system_deps, Status::ok, sys.detail);
  }

  if (s.doctor) return 0;

  environment::InstallContext ictx;
  ictx.venv = s.work_dir / "venv";
  try {
    install_python(cp, s, spec, runner, installer, cache, cache_dir, redacted_index, ictx, plan,
                   interp);
  } catch (const StepError& e) {
    if (sys.build) {
      // The other step failed first: stop the build, or report its own failure as the cause.
      const bool running = !sys.build->finished();
      const auto r = running ? sys.build->stop() : sys.build->wait();
      sys.build.reset();
      auto failure = system_deps_failure(r, sys, s, *nix);
      if (running) {
        sys.detail["reason"] = "cancelled";
        rec.finish(
            Id::system_deps, Status::failed, sys.detail,
            ErrorInfo{"stopped because " + std::string(report::name(e.checkpoint())) + " failed",
                      "fix " + std::string(report::name(e.checkpoint())) + " first"});
      } else if (failure) {
        rec.finish(Id::system_deps, report::status_for(failure->kind()), failure->detail(),
                   ErrorInfo{failure->what(), failure->hint()});
        if (cancelled_by_system_deps) throw *failure;
      } else {
        rec.finish(Id::system_deps, Status::ok, sys.detail);
      }
    }
    throw;
  }
  if (sys.build) {
    const auto r = sys.build->wait();
    sys.build.reset();
    if (auto failure = system_deps_failure(r, sys, s, *nix)) {
      rec.finish(Id::system_deps, report::status_for(failure->kind()), failure->detail(),
                 ErrorInfo{failure->what(), failure->hint()});
      throw *failure;
    }
    rec.finish(Id::system_deps, Status::ok, sys.detail);
  }

  // user_code: its exit code is the run's exit code.
  int code = 0;
  if (s.warm_only) {
    cp.run(Id::user_code, [&] {
      Outcome o;
      o.status = Status::skipped;
      o.detail["reason"] = "cache warm: the environment was built, the code is not run";
      return o;
    });
    return 0;
  }
  auto command = execution::user_code_command(spec, ictx.venv, s.env);
  if (plan.enabled && plan.mode == environment::EnvMode::inplace) {
    command.env["PYTHONDONTWRITEBYTECODE"] = "1";  // the shared venv stays read-only
  }
  if (sys.store_path) {
    command =
        environment::use_system_env(std::move(command), *nix, s.env, *sys.store_path, ictx.venv);
  }
  if (s.exec) {
    cp.run(Id::user_code, [&] {
      Outcome o;
      o.detail = {{"exec", true},
                  {"reason", "handed over: taskrunner replaced itself with Python"}};
      return o;
    });
    // The use lock of an in-place entry must outlive the hand-over: keep it across exec.
    if (plan.use_lock && plan.use_lock->held()) (void)::fcntl(plan.use_lock->fd(), F_SETFD, 0);
    const auto error = execution::exec_replacing_self(command, report::log_file_fd());
    report::log().error("exec mode: {}", error);
    return report::exit_code::no_interpreter;
  }
  cp.start(Id::user_code);
  execution::RunOptions opts;
  bool by_deadline = false;
  opts.timeout = bounded(s.code_timeout, s, by_deadline);
  opts.grace = s.grace;
  opts.inherit_stdin = true;
  opts.forward_signals = true;
  const auto r = runner.run(command, opts);
  nlohmann::json detail = {{"duration_ms", r.duration_ms},
                           {"stdout_bytes", r.stdout_bytes},
                           {"stderr_bytes", r.stderr_bytes}};
  if (!r.started) {
    rec.finish(Id::user_code, Status::failed, detail,
               ErrorInfo{r.start_error, "the venv's python is missing; rerun the task"});
    return report::exit_code::no_interpreter;
  }
  code = r.exit_code;
  detail["exit_code"] = code;
  if (WIFSIGNALED(r.raw_status)) detail["signal"] = WTERMSIG(r.raw_status);
  if (r.timed_out) {
    detail["timeout_ms"] = opts.timeout->count();
    if (by_deadline) {
      detail["reason"] = "deadline";
      rec.finish(Id::user_code, Status::timeout, detail,
                 ErrorInfo{"the user code was stopped before the workflow's ARGO_DEADLINE",
                           "give the workflow a later activeDeadlineSeconds, or make the code "
                           "faster"});
    } else {
      rec.finish(Id::user_code, Status::timeout, detail,
                 ErrorInfo{"the user code did not finish within " +
                               std::to_string(opts.timeout->count() / 1000) + " s and was stopped",
                           "raise TASKRUNNER_CODE_TIMEOUT (seconds) or make the code faster"});
    }
    return report::exit_code::setup_timeout;
  }
  if (code == 0) {
    rec.finish(Id::user_code, Status::ok, detail);
  } else {
    rec.finish(Id::user_code, Status::failed, detail,
               ErrorInfo{WIFSIGNALED(r.raw_status)
                             ? "the user code was killed by signal " +
                                   std::to_string(WTERMSIG(r.raw_status))
                             : "the user code exited with code " + std::to_string(code),
                         "see the traceback or output of the user code above"});
  }
  return code;
}

}  // namespace

int run_pipeline(const Settings& settings, const spec::TaskSpec& spec, report::Recorder& recorder,
                 execution::ProcessRunner& runner, execution::Supervisor* supervisor) {
  try {
    return run_steps(settings, spec, recorder, runner, supervisor);
  } catch (const StepError& e) {
    report::log().error("failed at checkpoint {}: {}", report::name(e.checkpoint()), e.what());
    if (!e.hint().empty()) report::log().error("hint: {}", e.hint());
    return report::exit_code_for(e);
  }
}

}  // namespace taskrunner::app
