#pragma once
// `uv` checkpoint: which installer runs.
#include <filesystem>
#include <optional>
#include <string>

#include "taskrunner/execution/process.hpp"

namespace taskrunner::tools {

enum class InstallerKind { uv, pip };

/// The installer chosen for this run.
struct Installer {
  InstallerKind kind = InstallerKind::pip;
  std::filesystem::path uv;  ///< the uv binary when kind == uv
  std::string version;       ///< `uv --version` output, first line
  std::string source;        ///< "TASKRUNNER_UV", "tools_dir" or "PATH"
};

/// Looks for uv in order: `explicit_path` (TASKRUNNER_UV; an error if set but not executable),
/// `<tools_dir>/uv` (the cache volume's bin/ dir), then `uv` on PATH; runs `uv --version`
/// (10 s limit). Without uv, returns the pip fallback. Returns nullopt and sets `error` only when
/// TASKRUNNER_UV is set and unusable.
std::optional<Installer> find_installer(const std::optional<std::string>& explicit_path,
                                        const std::filesystem::path& tools_dir,
                                        const std::string& path_var, const util::EnvMap& env,
                                        execution::ProcessRunner& runner, std::string& error);

}  // namespace taskrunner::tools
