#pragma once
// The run, top to bottom: spec → preflight (runtime, cache_mounts, disk_space, network) →
// tools (uv, nix) → environment (system_deps, venv, python_deps) → execution (user_code).
#include "taskrunner/app/settings.hpp"
#include "taskrunner/execution/process.hpp"
#include "taskrunner/execution/supervisor.hpp"
#include "taskrunner/report/checkpoint.hpp"
#include "taskrunner/spec/task_spec.hpp"

namespace taskrunner::app {

/// Runs checkpoints `runtime` … `user_code` for a validated spec (the `spec` checkpoint is
/// recorded by the caller). Returns the process exit code: the user code's own, 128+n when it
/// was killed by signal n, or taskrunner's code for the checkpoint that failed
/// (report::exit_code). Never throws for a step failure: each is recorded with its hint.
/// With a `supervisor`, a terminating signal that arrives between two steps stops the run before
/// the next checkpoint starts (recorded as failed with reason "terminated", exit 128+n).
int run_pipeline(const Settings& settings, const spec::TaskSpec& spec, report::Recorder& recorder,
                 execution::ProcessRunner& runner, execution::Supervisor* supervisor = nullptr);

}  // namespace taskrunner::app
