#pragma once
// The checkpoints' work, one file each (runner/app/steps/<id>.cpp), with explicit inputs and
// outputs. runner/app/pipeline.cpp calls them in order; each records its own checkpoint through
// Checkpoints and throws report::StepError (already recorded) to stop the run.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoints.hpp"
#include "taskrunner/app/settings.hpp"
#include "taskrunner/environment/env_cache.hpp"
#include "taskrunner/environment/install.hpp"
#include "taskrunner/environment/system_env.hpp"
#include "taskrunner/preflight/cache_mounts.hpp"
#include "taskrunner/spec/task_spec.hpp"
#include "taskrunner/tools/nix.hpp"
#include "taskrunner/tools/python.hpp"
#include "taskrunner/tools/uv.hpp"
#include "taskrunner/util/lock.hpp"

namespace taskrunner::app::steps {

/// The package index of the run: as given (it reaches installers only through their
/// environment) and with credentials removed (for records and logs).
struct Index {
  std::string url;
  std::string redacted;
};
Index index_of(const spec::TaskSpec& spec);

// --- spec.cpp ------------------------------------------------------------------------------
/// What the command line adds to the environment and the spec file (cli.cpp parses it).
struct SpecFlags {
  std::optional<std::string> spec_file;  ///< --spec (else TASKRUNNER_SPEC)
  std::optional<std::string> code;
  std::optional<std::string> code_file;
  std::optional<std::vector<std::string>> deps;
  std::optional<std::string> requirements_file;
  std::optional<std::string> requirements_lock;  ///< --lock
  std::optional<std::vector<std::string>> system_deps;
  std::vector<std::string> args;  ///< after `--`: sys.argv[1:]
  bool exec = false;
};
/// The validated task and the runner's settings.
struct Loaded {
  Settings settings;
  spec::TaskSpec task;
};
/// Checkpoint 1: environment → JSON spec → flags, later wins; validates every field. nullopt
/// when invalid: the checkpoint is then recorded failed with the field named (exit 2).
std::optional<Loaded> spec(report::Recorder& rec, const util::EnvMap& env, const SpecFlags& flags,
                           bool doctor, bool warm);

// --- runtime.cpp ---------------------------------------------------------------------------
/// The container checks; creates the work and results dirs; opens taskrunner.log and starts
/// checkpoints.json (not in doctor mode).
void runtime(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec);

// --- cache_mounts.cpp ----------------------------------------------------------------------
struct CacheMounts {
  preflight::CacheCheck check;
  std::optional<std::filesystem::path> uv_cache;  ///< UV_CACHE_DIR when usable, else none
};
CacheMounts cache_mounts(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec);

// --- disk_space.cpp ------------------------------------------------------------------------
void disk_space(const Checkpoints& cp, const Settings& s, const CacheMounts& cache);

// --- env_cache.cpp: the environment cache's part in the run (docs/env-cache.md) -----------
struct EnvPlan {
  bool enabled = false;
  environment::EnvMode mode = environment::EnvMode::off;
  std::string key;
  std::string material;  ///< what the key hashes (JSON)
  environment::EntryPaths paths;
  std::optional<environment::Entry> hit;
  std::string result = "off";  ///< "hit", "miss", "rebuilt" or "off"
  /// The cache cannot be written (read-only mount, or not ours): hits are served, a miss is
  /// built in the work dir and not published (docs/security.md "Two deployments").
  bool read_only = false;
  std::optional<util::FileLock> build_lock;
  std::optional<util::FileLock> use_lock;
  nlohmann::json detail = nlohmann::json::object();
  /// The detail recorded under `env_cache` by venv and python_deps.
  [[nodiscard]] nlohmann::json record() const;
};
/// Computes the key and looks the entry up. No process, no writes besides the cache's dirs.
EnvPlan plan_env_cache(const Settings& s, const spec::TaskSpec& spec,
                       const tools::Installer& installer, const tools::Interpreter& interp,
                       const std::string& index);
/// Uses a hit: restores the snapshot into `venv` or points `venv` at the in-place venv, holding
/// the entry's use lock for the rest of the run. false (entry rejected and removed, result
/// "rebuilt") when the entry is damaged. A terminating signal during a restore throws the
/// `venv` StepError (reason "terminated", exit 128+n) and leaves the entry alone.
bool use_env_hit(const Checkpoints& cp, EnvPlan& plan, const Settings& s,
                 std::filesystem::path& venv);
/// TASKRUNNER_RESOLVE_MAX_AGE (docs/locks.md): a hit built from an unpinned request whose lock
/// was resolved longer ago than the limit is resolved again (resolve_command: uv pip compile, or
/// pip install --dry-run --report, with the base interpreter). Same pins: the entry's
/// resolved_at is renewed and the hit stands. Other pins: the entry is rejected and the run
/// builds a new one (result "rebuilt"). A resolution that fails keeps the hit, with a warn.
/// Recorded under env_cache.re_resolved.
void refresh_resolution(EnvPlan& plan, const Settings& s, const spec::TaskSpec& spec,
                        execution::ProcessRunner& runner, const environment::InstallContext& ictx);
/// After a successful install: compiles bytecode, publishes the venv with the run's lock and
/// releases the build lock. A failure here is logged and recorded, never fails the run.
void publish_env(EnvPlan& plan, const Settings& s, const std::filesystem::path& venv,
                 execution::ProcessRunner& runner,
                 const std::optional<environment::LockToPublish>& lock);

// --- network.cpp ---------------------------------------------------------------------------
/// What `network` finds out before deciding whether it is needed: the installer and the
/// interpreter (recorded at `uv` and `venv`) and the environment cache entry (a hit skips it).
struct Probes {
  std::optional<tools::Installer> installer;
  std::string installer_error;
  std::optional<tools::Interpreter> interpreter;
  EnvPlan plan;
};
Probes network(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec,
               const Index& index, execution::ProcessRunner& runner);
/// Where what a probe found is shared between pods: `<env cache>/<subdir>` — "interpreters"
/// (tools::resolve_interpreter), "tools" (uv's version, tools::find_installer) — signed with the
/// cache key when there is one; none when the environment cache is off.
tools::SharedProbeRecords probe_records(const Settings& s, const char* subdir);

// --- uv.cpp --------------------------------------------------------------------------------
tools::Installer uv(const Checkpoints& cp, const Settings& s, const Probes& probes);

// --- nix.cpp + system_deps.cpp ---------------------------------------------------------------
/// The system_deps step between its start and its end.
struct SystemDeps {
  std::optional<tools::NixTool> nix;
  environment::SystemEnvRequest request;
  std::filesystem::path out_link;
  std::optional<std::filesystem::path> store_path;  ///< set once the environment exists
  std::unique_ptr<execution::BackgroundRun> build;  ///< the cold build, while it runs
  ChildLimit limit;                                 ///< the time limit the build started with
  nlohmann::json detail = nlohmann::json::object();
};
/// Finds Nix, computes the system environment's key and checks its out-link.
SystemDeps nix(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec,
               execution::ProcessRunner& runner);
/// Starts system_deps: a warm key ends it here, a cold one starts the single-flight build in
/// the background (a failing build sets `cancelled` and stops the foreground step).
void start_system_deps(const Checkpoints& cp, SystemDeps& sys, const Settings& s,
                       const spec::TaskSpec& spec, execution::ProcessRunner& runner,
                       bool& cancelled);
/// Ends system_deps after python_deps. `other` is the foreground step's failure, if any: the
/// build is then stopped (recorded "cancelled") unless it already ended. Throws the build's own
/// failure (recorded) when it failed and caused the stop, or when nothing else failed.
void finish_system_deps(const Checkpoints& cp, SystemDeps& sys, const Settings& s,
                        const report::StepError* other);

// --- venv.cpp ------------------------------------------------------------------------------
/// Resolves the base interpreter; uses an environment cache hit, or creates a fresh venv
/// (one builder per key). Returns what python_deps and user_code need.
environment::InstallContext venv(const Checkpoints& cp, const Settings& s,
                                 const spec::TaskSpec& spec, execution::ProcessRunner& runner,
                                 const tools::Installer& installer, const CacheMounts& cache,
                                 Probes& probes);

/// Creates the (removed or never made) venv `ictx.venv` for step `id`: written directly
/// (environment::create_venv) when environment::native_venv_layout() allows, else by
/// `uv venv` / `python -m venv` as a setup step. Records `created_by` ("taskrunner", "uv venv",
/// "python -m venv") in `detail`. A direct write that fails for lack of room (ENOSPC, EDQUOT)
/// returns exit code 1 with the errno message as the output tail, like a child that printed it,
/// so the callers' ENOSPC handling covers both; any other direct failure throws a StepError
/// naming the path.
execution::RunResult make_venv(execution::ProcessRunner& runner, report::Id id,
                               const environment::InstallContext& ictx, const Settings& s,
                               nlohmann::json& detail);

/// A cache volume filled up (ENOSPC) while step `id` built on it: removes a half-built in-place
/// venv, turns the environment cache off for the run (nothing is published), moves `ictx` to
/// <work>/venv without the installer's cache, records `uncached_after_enospc` and the new
/// `path` in `detail`, logs a warn, and creates the fresh venv there. Returns that child's result.
execution::RunResult go_on_uncached(report::Id id, const Settings& s,
                                    execution::ProcessRunner& runner,
                                    environment::InstallContext& ictx, EnvPlan& plan,
                                    nlohmann::json& detail);

// --- python_deps.cpp -------------------------------------------------------------------------
/// Installs the requirements into `ictx.venv`; a cache volume that fills up (ENOSPC) once makes
/// it go on uncached in the work dir (`ictx` changed accordingly, nothing published).
void python_deps(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec,
                 execution::ProcessRunner& runner, environment::InstallContext& ictx, EnvPlan& plan,
                 const Index& index);

// --- user_code.cpp ---------------------------------------------------------------------------
/// Runs (or, in exec mode, becomes) the user's code with the venv's python; returns the run's
/// exit code. `cache warm` records it skipped and returns 0.
int user_code(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec,
              execution::ProcessRunner& runner, const environment::InstallContext& ictx,
              EnvPlan& plan, const SystemDeps& sys);

}  // namespace taskrunner::app::steps
