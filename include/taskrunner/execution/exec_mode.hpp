#pragma once
// Exec mode (TASKRUNNER_EXEC=1, `run --exec`): after setup taskrunner replaces itself with the
// user's Python (execve), so Python is the container's main process with no supervisor between.
#include "taskrunner/execution/process.hpp"

namespace taskrunner::execution {

/// Starts a small log shipper (a forked process, not a child of Python: it is double-forked)
/// that copies two pipes to the original stdout/stderr and to `log_fd` until both reach EOF,
/// ignoring SIGTERM/SIGINT/SIGHUP/SIGQUIT so it outlives Python's last write; points fds 1 and 2
/// at the pipes; then execve(2)s `command` in place of this process. Returns only on failure,
/// with an errno message naming the executable. What exec mode gives up: docs/supervision.md.
std::string exec_replacing_self(const Command& command, int log_fd);

}  // namespace taskrunner::execution
