#pragma once
// `nix` checkpoint: locating nix-portable or nix (system dependencies are installed by a later
// version; this only finds and records the tool).
#include <filesystem>
#include <optional>
#include <string>

namespace taskrunner::tools {

struct NixTool {
  std::filesystem::path path;
  std::string kind;    ///< "nix-portable" or "nix"
  std::string source;  ///< "TASKRUNNER_NIX_PORTABLE", "tools_dir" or "PATH"
};

/// Order: `explicit_path` (TASKRUNNER_NIX_PORTABLE), `<tools_dir>/nix-portable`, `nix-portable`
/// on PATH, `nix` on PATH. nullopt when none is there.
std::optional<NixTool> find_nix(const std::optional<std::string>& explicit_path,
                                const std::filesystem::path& tools_dir,
                                const std::string& path_var);

}  // namespace taskrunner::tools
