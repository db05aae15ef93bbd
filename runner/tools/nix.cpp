#include "taskrunner/tools/nix.hpp"

#include "taskrunner/execution/process.hpp"

namespace taskrunner::tools {

std::optional<NixTool> find_nix(const std::optional<std::string>& explicit_path,
                                const std::filesystem::path& tools_dir,
                                const std::string& path_var) {
  using execution::find_on_path;
  if (explicit_path) {
    if (auto p = find_on_path(*explicit_path, path_var)) {
      return NixTool{*p, "nix-portable", "TASKRUNNER_NIX_PORTABLE"};
    }
    return std::nullopt;
  }
  if (auto p = find_on_path((tools_dir / "nix-portable").string(), path_var)) {
    return NixTool{*p, "nix-portable", "tools_dir"};
  }
  if (auto p = find_on_path("nix-portable", path_var)) return NixTool{*p, "nix-portable", "PATH"};
  if (auto p = find_on_path("nix", path_var)) return NixTool{*p, "nix", "PATH"};
  return std::nullopt;
}

}  // namespace taskrunner::tools
