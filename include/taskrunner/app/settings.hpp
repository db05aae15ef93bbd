#pragma once
// Runner knobs from the environment (README "Environment variables"). Separate from the task
// spec: these describe the pod and its volumes, not the user's task.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

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
  std::chrono::milliseconds install_timeout{
      std::chrono::minutes(30)};  ///< TASKRUNNER_INSTALL_TIMEOUT (s)
  std::optional<std::chrono::milliseconds>
      code_timeout;  ///< TASKRUNNER_CODE_TIMEOUT (s), none by default
  std::chrono::milliseconds grace{std::chrono::seconds(10)};  ///< TASKRUNNER_GRACE_SECONDS
  std::chrono::milliseconds network_timeout{
      std::chrono::seconds(3)};                         ///< TASKRUNNER_NETWORK_TIMEOUT (s)
  std::uint64_t min_free_bytes = 512ULL * 1024 * 1024;  ///< TASKRUNNER_MIN_FREE_MB (MiB)
  util::EnvMap env;  ///< the environment the settings were read from; children inherit it
};

/// Thrown for a malformed knob; names the variable.
struct SettingsError : std::runtime_error {
  SettingsError(const std::string& var, const std::string& message)
      : std::runtime_error(var + ": " + message), variable(var) {}
  std::string variable;
};

/// Reads all knobs. TASKRUNNER_RESULTS_DIR defaults to /mnt/results/<workflow> when /mnt/results
/// exists (the results PVC), else <work_dir>/results. Throws SettingsError for values that do
/// not parse (e.g. TASKRUNNER_CODE_TIMEOUT=abc).
Settings load_settings(const util::EnvMap& env);

}  // namespace taskrunner::app
