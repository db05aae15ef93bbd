#pragma once
// Recording a checkpoint around its work, and turning a child process's end into the step's
// error: the two pieces every step file uses (runner/app/steps/<id>.cpp).
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "taskrunner/app/settings.hpp"
#include "taskrunner/execution/process.hpp"
#include "taskrunner/execution/supervisor.hpp"
#include "taskrunner/report/checkpoint.hpp"
#include "taskrunner/report/error.hpp"
#include "taskrunner/report/outcome.hpp"

namespace taskrunner::app::steps {

/// Records checkpoints around the work of each step.
struct Checkpoints {
  report::Recorder& rec;
  execution::Supervisor* supervisor;  ///< null in tests without signal handling
  bool doctor;  ///< diagnosis: record every failure and go on to the next check
  /// Set when a failed background system_deps build stopped the foreground step: that step's
  /// own error is then only a consequence and is recorded as "cancelled".
  const bool* cancelled_by_system_deps = nullptr;

  /// Starts checkpoint `id`. Throws (after recording it as failed) when a terminating signal
  /// arrived since the last step (reason "terminated") or the background build failed
  /// (reason "cancelled").
  void start(report::Id id) const;
  /// Records `e` as the end of its checkpoint (failed or timeout) and returns it.
  const report::StepError& record(const report::StepError& e) const;
  /// Records start, runs `step`, records its outcome. A StepError is recorded and rethrown; a
  /// `failed` outcome becomes a StepError. In doctor mode neither is thrown.
  void run(report::Id id, const std::function<report::Outcome()>& step) const;
  /// Records `id` as `skipped` with `reason`.
  void skip(report::Id id, const std::string& reason) const;
};

/// The time limit a child ran under, as the ladder needs it for its messages.
struct ChildLimit {
  std::optional<std::chrono::milliseconds> applied;  ///< what RunOptions::timeout was
  bool by_deadline = false;  ///< ARGO_DEADLINE, not the configured limit, decided `applied`
  std::chrono::milliseconds configured{0};  ///< the configured limit (ms), for the message
};

/// `limit` shortened so the step ends kGraceMargin + grace before ARGO_DEADLINE, leaving time
/// to stop it and record its checkpoint.
ChildLimit bounded(std::optional<std::chrono::milliseconds> limit, const Settings& s);

/// The one ladder from a child's end to the step's error: start failure, cancellation by the
/// step beside it, a terminating signal, the deadline, the time limit — in that order. nullopt
/// when the child ran and exited by itself (its exit code is the caller's to judge). `detail`
/// is recorded with the error (reason, signal, timeout_ms and failure are added); the texts
/// come from the hint table (report/hints.hpp).
std::optional<report::StepError> child_failure(report::Id id, const execution::RunResult& r,
                                               const ChildLimit& limit, nlohmann::json detail,
                                               const std::string& timeout_hint = "");

/// Runs an installer step (output to stderr, the install time limit, bounded by the deadline)
/// and throws child_failure() when it did not end by itself.
execution::RunResult run_setup_step(execution::ProcessRunner& runner, report::Id id,
                                    const execution::Command& cmd, const Settings& s);

}  // namespace taskrunner::app::steps
