#pragma once
// `runtime` checkpoint: facts about the container the run is in.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "taskrunner/report/outcome.hpp"

namespace taskrunner::preflight {

/// Memory limit of the cgroup this process is in, in bytes.
struct CgroupMemory {
  int version = 0;                       ///< 1 or 2; 0 when no memory controller was found
  std::optional<std::uint64_t> limit;    ///< nullopt = unlimited ("max")
  std::optional<std::uint64_t> current;  ///< current usage
};

/// Reads cgroup v2 (`memory.max`, `memory.current` under `root`) or v1
/// (`memory/memory.limit_in_bytes`, `memory/memory.usage_in_bytes`) — Linux cgroup docs.
/// `root` is /sys/fs/cgroup in production; tests pass a fixture directory.
CgroupMemory read_cgroup_memory(const std::filesystem::path& root);

/// Whether this process may create a user namespace (what bwrap-based nix-portable needs): a
/// forked child tries unshare(CLONE_NEWUSER) (user_namespaces(7)).
bool user_namespaces_usable();

/// Collects: pid (and whether we are PID 1), uid/gid, kernel release, cgroup memory, seccomp
/// mode (/proc/self/status), user namespaces, bwrap/proot on `path_var`. Status ok; `warn` with
/// the user_namespaces_blocked hint when `need_user_namespaces` (system deps were asked for) and
/// neither user namespaces nor proot are available. The user-namespace probe (a fork, about
/// 2 ms) runs only when `need_user_namespaces` or `always_probe` (doctor); otherwise
/// detail.user_namespaces is null ("not checked").
report::Outcome check_runtime(const std::filesystem::path& cgroup_root = "/sys/fs/cgroup",
                              bool need_user_namespaces = false, const std::string& path_var = "",
                              bool always_probe = false);

}  // namespace taskrunner::preflight
