#pragma once
// `nix` checkpoint: which Nix runs system-dependency builds, in which store mode, and how its
// programs are invoked. docs/system-deps.md describes the two store modes.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "taskrunner/execution/process.hpp"
#include "taskrunner/util/env.hpp"

#include "taskrunner/util/result.hpp"

namespace taskrunner::tools {

/// How store paths are reached.
enum class StoreMode {
  /// A real /nix/store (the store PVC mounted at /nix): nix runs directly and store paths are
  /// ordinary files, so the user code runs them natively.
  native,
  /// nix-portable: the store lives in $NP_LOCATION/.nix-portable/nix/store and appears at
  /// /nix/store only inside nix-portable's wrapper (bwrap, proot or nix's own namespaces), so the
  /// user code runs inside it (`nix-portable nix shell <env> --command python …`).
  portable,
};

struct NixTool {
  std::filesystem::path path;  ///< nix-portable, or the `nix` binary
  std::string kind;            ///< "nix-portable" or "nix"
  std::string source;          ///< "TASKRUNNER_NIX_PORTABLE", "tools_dir" or "PATH"
  [[nodiscard]] StoreMode mode() const {
    return kind == "nix" ? StoreMode::native : StoreMode::portable;
  }
};

/// Order: `explicit_path` (TASKRUNNER_NIX_PORTABLE), `<tools_dir>/nix-portable`, `nix-portable`
/// on PATH, `nix` on PATH. nullopt when none is there.
std::optional<NixTool> find_nix(const std::optional<std::string>& explicit_path,
                                const std::filesystem::path& tools_dir,
                                const std::string& path_var);

/// nix-portable's data directory: NP_LOCATION, else HOME (nix-portable's own default), else "/".
/// Its store is `<this>/.nix-portable/nix/store`.
std::filesystem::path np_location(const util::EnvMap& env);

/// Where the store's files really are, as this process sees them: native → NIX_STORE_DIR or
/// /nix/store; portable → `np_location(env)/.nix-portable/nix/store`.
std::filesystem::path real_store_dir(const NixTool& tool, const util::EnvMap& env);

/// The logical store path `store_path` (/nix/store/<hash>-<name>) as a file this process can
/// stat: itself in native mode, re-rooted under real_store_dir() in portable mode.
std::filesystem::path reachable_path(const NixTool& tool, const util::EnvMap& env,
                                     const std::filesystem::path& store_path);

/// A command running Nix program `program` ("nix", "nix-build", "nix-store") with `args` and
/// environment `env`: native → `<dir of nix>/<program> args…`; portable → `nix-portable
/// <program> args…` (nix-portable's "pass the nix command line" form).
execution::Command nix_command(const NixTool& tool, std::string_view program,
                               std::vector<std::string> args, const util::EnvMap& env);

/// The lock file that serialises nix-portable's start-up (unpacking into NP_LOCATION is not
/// safe when two processes do it at once): `np_location(env)/.taskrunner-nix-portable.lock`.
std::filesystem::path portable_startup_lock(const util::EnvMap& env);

/// `<nix> --version` (first line, e.g. "nix (Nix) 2.8.0"), bounded by `timeout` (ms).
/// Fails when it does not start, answer in time or exit 0 (the message names the command).
util::Result<std::string> nix_version(const NixTool& tool, const util::EnvMap& env,
                                      execution::ProcessRunner& runner,
                                      std::chrono::milliseconds timeout);

}  // namespace taskrunner::tools
