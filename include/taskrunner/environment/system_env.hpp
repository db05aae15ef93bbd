#pragma once
// `system_deps` checkpoint: all requested nixpkgs attributes become one environment (nixpkgs'
// buildEnv), realised once per key and kept alive by an out-link GC root on the volume named by
// that key. docs/system-deps.md has the full contract.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "taskrunner/execution/process.hpp"
#include "taskrunner/tools/nix.hpp"

namespace taskrunner::environment {

/// Bumped whenever the expression or the key's inputs change meaning.
inline constexpr int kSystemEnvFormat = 1;

/// What determines the environment.
struct SystemEnvRequest {
  std::vector<std::string> attrs;  ///< validated attribute paths (spec::check_nix_attribute)
  /// TASKRUNNER_NIXPKGS: an absolute path or an http(s)/file URL of a nixpkgs tarball; empty =
  /// whatever the resolved Nix considers <nixpkgs> (NIX_PATH).
  std::string nixpkgs;
  std::string nix_path;  ///< NIX_PATH, part of the key when `nixpkgs` is empty
  std::string system;    ///< Nix system, e.g. "x86_64-linux" (nix_system())
};

/// The Nix system double of this machine ("x86_64-linux", "aarch64-linux"), from uname(2).
std::string nix_system();

/// sha256 (hex) over the format version, the nixpkgs pin (NIX_PATH when unpinned), the sorted,
/// de-duplicated attribute list and the system. Same inputs → same key on every pod.
std::string system_env_key(const SystemEnvRequest& request);

/// The Nix expression nix-build evaluates: a function of `nixpkgs`, `attrs` (space-separated)
/// and `system`, all passed with --argstr so no user string is ever part of Nix source. An
/// attribute missing from nixpkgs fails evaluation with "taskrunner: unknown attribute 'X'".
std::string_view system_env_expression();

/// nix-build arguments realising `request` with out-link `out_link` (the GC root).
std::vector<std::string> nix_build_args(const SystemEnvRequest& request,
                                        const std::filesystem::path& out_link);

/// The store path `out_link` points to, when the link exists and its target is a directory
/// reachable through `tool`'s store (tools::reachable_path). nullopt otherwise: a cold key, or a
/// root whose target was deleted behind Nix's back.
std::optional<std::filesystem::path> valid_root(const tools::NixTool& tool, const util::EnvMap& env,
                                                const std::filesystem::path& out_link);

/// The attribute named in nix-build's "taskrunner: unknown attribute 'X'" error, if present.
std::optional<std::string> unknown_attribute(std::string_view output);

/// Default GC-root directory: native → /nix/var/nix/gcroots/taskrunner (roots beside the store
/// they protect); portable → `np_location/.nix-portable/taskrunner-roots`.
std::filesystem::path default_roots_dir(const tools::NixTool& tool, const util::EnvMap& env);

/// The user code command `user` adjusted to see the system environment `store_path`:
/// native → `<store_path>/bin` right after the venv's bin dir on PATH (before the image's own
/// dirs); portable → run inside nix-portable's wrapper, where store paths resolve:
/// `nix-portable nix --extra-experimental-features nix-command shell <store_path> --command
/// <python> ARGS…` (nix shell puts `<store_path>/bin` first on PATH).
execution::Command use_system_env(execution::Command user, const tools::NixTool& tool,
                                  const util::EnvMap& env, const std::filesystem::path& store_path,
                                  const std::filesystem::path& venv);

/// Written by `taskrunner nix-build-once` when another runner finished the same key while this
/// one waited for the lock.
inline constexpr std::string_view kBuiltByOther = "taskrunner: built by another runner: ";

/// The internal `taskrunner nix-build-once --lock F --out-link L --store-dir D -- NIX-BUILD ARGS…`
/// command: takes an exclusive flock on F (blocking; the kernel drops it if we die), then exits
/// 0 if L already points into D (another runner built it meanwhile), else execs NIX-BUILD with
/// the lock descriptor inherited, so the lock is held exactly as long as the build runs.
/// Returns an exit code (2 for bad arguments, 125 when locking or exec fails).
int nix_build_once_main(const std::vector<std::string>& options,
                        const std::vector<std::string>& command);

}  // namespace taskrunner::environment
