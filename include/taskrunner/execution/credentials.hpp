#pragma once
// Privilege separation (docs/security.md): started as root, taskrunner sets up as root and runs
// the user's code as an unprivileged uid, so the code cannot change the shared caches or the
// records of its own run.
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "taskrunner/util/env.hpp"
#include "taskrunner/util/result.hpp"

namespace taskrunner::execution {

/// The uid and gid the user's code runs as.
struct Credentials {
  uid_t uid = 65534;
  gid_t gid = 65534;
};

/// Default of TASKRUNNER_RUN_AS when started as root: nobody/nogroup (Debian's 65534).
inline constexpr Credentials kDefaultRunAs{65534, 65534};

/// Parses TASKRUNNER_RUN_AS: "off" → nullopt (no separation); "UID" (the gid is then the same
/// number) or "UID:GID", each 1 … 4294967294 (0 is root: use "off"; 2³²−1 is the kernel's
/// "no change"). Fails with a sentence naming the accepted forms.
util::Result<std::optional<Credentials>> parse_run_as(std::string_view text);

/// "UID:GID", for records.
std::string to_string(const Credentials& c);

/// Drops to `c` for good; only async-signal-safe calls, for the child between fork and exec:
/// setgroups(0) (no supplementary groups), setgid, setuid (for a process whose real, effective
/// and saved uid leave 0 the kernel clears the permitted, effective and ambient capabilities,
/// capabilities(7) "Effect of user ID changes on capabilities"), then PR_SET_NO_NEW_PRIVS
/// (prctl(2): execve can no longer grant privileges — setuid binaries, file capabilities).
/// Returns 0, or the errno of the call that failed.
int drop_privileges(const Credentials& c) noexcept;

/// The user code's own writable places, created (0700) and handed to `c`: <work>/home (HOME),
/// <work>/tmp (TMPDIR), <results>/outputs (TASKRUNNER_OUTPUTS_DIR). Returns those three
/// variables for the code's environment, or the errno message naming the path. An existing
/// directory of that name that is a symlink is refused (never chowned through).
util::Result<util::EnvMap> prepare_user_dirs(const Credentials& c,
                                             const std::filesystem::path& work_dir,
                                             const std::filesystem::path& results_dir);

/// nullopt when `c` can reach `file`: search permission on every directory above it, read
/// permission on it (owner, group or other bits; supplementary groups are dropped, so only the
/// gid counts), along its path as given and along its canonical path. Otherwise the sentence
/// naming the first directory or file it cannot pass, with its mode.
std::optional<std::string> unreachable(const Credentials& c, const std::filesystem::path& file);

}  // namespace taskrunner::execution
