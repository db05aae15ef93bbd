#pragma once
// `uv` checkpoint: which installer runs.
#include <filesystem>
#include <optional>
#include <string>

#include "taskrunner/execution/process.hpp"

#include "taskrunner/util/result.hpp"

namespace taskrunner::tools {

enum class InstallerKind { uv, pip };

/// The installer chosen for this run.
struct Installer {
  InstallerKind kind = InstallerKind::pip;
  std::filesystem::path uv;  ///< the uv binary when kind == uv
  std::string version;       ///< `uv --version` output, first line
  std::string source;        ///< "TASKRUNNER_UV", "tools_dir" or "PATH"
  /// pip fallback only: why a uv found by search was not used ("uv at … does not run"); empty
  /// when there was no uv at all.
  std::string fallback_reason;
};

/// Looks for uv in order: `explicit_path` (TASKRUNNER_UV; an error if set but not executable),
/// `<tools_dir>/uv` (the cache volume's bin/ dir), then `uv` on PATH; runs `uv --version`
/// (10 s limit). Without a working uv, returns the pip fallback (with `fallback_reason` when a
/// uv was found but does not run). Fails only when TASKRUNNER_UV is set and unusable.
util::Result<Installer> find_installer(const std::optional<std::string>& explicit_path,
                                       const std::filesystem::path& tools_dir,
                                       const std::string& path_var, const util::EnvMap& env,
                                       execution::ProcessRunner& runner);

}  // namespace taskrunner::tools
