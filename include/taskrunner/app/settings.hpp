#pragma once
// Runner knobs from the environment (README "Environment variables"). Separate from the task
// spec: these describe the pod and its volumes, not the user's task.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "taskrunner/environment/env_cache.hpp"
#include "taskrunner/execution/credentials.hpp"
#include "taskrunner/util/env.hpp"

namespace taskrunner::app {

struct Settings {
  std::filesystem::path work_dir;      ///< TASKRUNNER_WORK_DIR, default /tmp/taskrunner
  std::filesystem::path results_dir;   ///< TASKRUNNER_RESULTS_DIR, see load_settings()
  std::filesystem::path uv_cache_dir;  ///< UV_CACHE_DIR, default /root/.cache/uv (the cache PVC)
  std::filesystem::path tools_dir;     ///< TASKRUNNER_TOOLS_DIR, default <UV_CACHE_DIR>/bin
  std::string workflow;                ///< ARGO_WORKFLOW_NAME, default "local"
  std::string python;                  ///< TASKRUNNER_PYTHON, default "python3" (PATH search)
  std::optional<std::string> uv;       ///< TASKRUNNER_UV: explicit uv binary
  std::optional<std::string> nix_portable;  ///< TASKRUNNER_NIX_PORTABLE
  /// TASKRUNNER_NIXPKGS: absolute path or http(s)/file URL of the nixpkgs to build system deps
  /// from; empty = the resolved Nix's <nixpkgs> (NIX_PATH).
  std::string nixpkgs;
  /// TASKRUNNER_NIX_ROOTS: directory of the out-link GC roots, one per system-env key; default
  /// environment::default_roots_dir().
  std::optional<std::filesystem::path> nix_roots;
  /// TASKRUNNER_ENV_CACHE: root of the environment cache (docs/env-cache.md), default
  /// /root/.cache/taskrunner — meant for the shared volume, never inside UV_CACHE_DIR.
  std::filesystem::path env_cache;
  /// TASKRUNNER_ENV_MODE: off, snapshot, inplace or auto (default).
  environment::EnvMode env_mode = environment::EnvMode::automatic;
  /// TASKRUNNER_RESOLVE_MAX_AGE (s): an entry resolved from an unpinned request longer ago than
  /// this is resolved again on its next use (docs/locks.md); none by default (never).
  std::optional<std::chrono::milliseconds> resolve_max_age;
  /// TASKRUNNER_CACHE_KEY_FILE's bytes: env-cache entries are signed with it and verified
  /// before use (docs/security.md "Signed entries"); none by default.
  std::optional<std::string> cache_key;
  /// TASKRUNNER_PASS_INDEX_CREDENTIALS: keep index URLs that carry credentials in the user
  /// code's environment (default false: they are removed, docs/security.md).
  bool pass_index_credentials = false;
  bool warm_only = false;   ///< `taskrunner cache warm`: build and publish, do not run the code
  int install_retries = 2;  ///< TASKRUNNER_INSTALL_RETRIES: retries after a transient failure
  std::chrono::milliseconds install_timeout{
      std::chrono::minutes(30)};  ///< TASKRUNNER_INSTALL_TIMEOUT (s)
  std::optional<std::chrono::milliseconds>
      code_timeout;  ///< TASKRUNNER_CODE_TIMEOUT (s), none by default
  /// ARGO_TERMINATION_GRACE_PERIOD_SECONDS minus kGraceMargin, else TASKRUNNER_GRACE_SECONDS.
  std::chrono::milliseconds grace{std::chrono::seconds(10)};
  /// ARGO_DEADLINE (RFC 3339): the whole run must end before it.
  std::optional<std::chrono::system_clock::time_point> deadline;
  std::optional<std::filesystem::path> progress_file;    ///< ARGO_PROGRESS_FILE ("N/11")
  std::optional<std::filesystem::path> termination_log;  ///< TASKRUNNER_TERMINATION_LOG
  /// TASKRUNNER_PUSHGATEWAY_URL: push <results>/metrics.prom there after the run (http only).
  std::optional<std::string> pushgateway_url;
  /// TASKRUNNER_PUSHGATEWAY_TIMEOUT (s): bound of the whole push, default 2 s.
  std::chrono::milliseconds pushgateway_timeout{std::chrono::seconds(2)};
  std::string template_name;  ///< TASKRUNNER_TEMPLATE_NAME: the Pushgateway's `template` label
  bool exec = false;          ///< TASKRUNNER_EXEC: replace taskrunner with the user's Python
  /// TASKRUNNER_RUN_AS: the uid/gid of the user's code; default execution::kDefaultRunAs when
  /// started as root, none otherwise or with "off" (docs/security.md).
  std::optional<execution::Credentials> run_as;
  bool doctor = false;  ///< `taskrunner doctor`: preflight checkpoints only, no files written
  std::chrono::milliseconds network_timeout{
      std::chrono::seconds(3)};                         ///< TASKRUNNER_NETWORK_TIMEOUT (s)
  std::uint64_t min_free_bytes = 512ULL * 1024 * 1024;  ///< TASKRUNNER_MIN_FREE_MB (MiB)
  util::EnvMap env;  ///< the environment the settings were read from; children inherit it
};

/// Time kept back from Kubernetes' grace period (and before ARGO_DEADLINE) so taskrunner can
/// record the last checkpoint and exit before the kubelet's SIGKILL.
inline constexpr std::chrono::milliseconds kGraceMargin{2000};

/// The trace id and parent span id of a W3C TRACEPARENT ("00-<32 hex>-<16 hex>-<2 hex>",
/// https://www.w3.org/TR/trace-context/); both empty when absent or malformed.
std::pair<std::string, std::string> trace_context(const util::EnvMap& env);

/// TASKRUNNER_TERMINATION_LOG, else /dev/termination-log when it exists and is writable.
std::optional<std::filesystem::path> termination_log_path(const util::EnvMap& env);

/// Thrown for a malformed knob; names the variable.
struct SettingsError : std::runtime_error {
  SettingsError(const std::string& var, const std::string& message)
      : std::runtime_error(var + ": " + message), variable(var) {}
  std::string variable;
};

/// Reads all knobs. TASKRUNNER_RESULTS_DIR defaults to /mnt/results/<workflow> when /mnt/results
/// exists (the results PVC), else <work_dir>/results. Throws SettingsError for values that do
/// not parse (e.g. TASKRUNNER_CODE_TIMEOUT=abc, ARGO_DEADLINE=tomorrow). TRACEPARENT that is not
/// W3C "00-<32 hex>-<16 hex>-<2 hex>" is ignored (tracing must never fail a task).
/// TASKRUNNER_TERMINATION_LOG defaults to /dev/termination-log when that file exists and is
/// writable (Kubernetes mounts it in every container).
Settings load_settings(const util::EnvMap& env);

}  // namespace taskrunner::app
