#pragma once
// The boundary error of the pipeline and the single mapping from failures to exit codes.
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "taskrunner/report/checkpoint.hpp"

namespace taskrunner::report {

/// Exit codes of taskrunner's own failures (README "Exit codes"). The user code's own exit code
/// passes through unchanged, and a user process killed by signal n gives 128+n (shell convention).
namespace exit_code {
inline constexpr int usage = 2;             ///< invalid spec, invalid flag or env value
inline constexpr int setup_timeout = 124;   ///< a step exceeded its timeout (as GNU timeout(1))
inline constexpr int setup_failed = 125;    ///< a setup checkpoint failed
inline constexpr int no_interpreter = 127;  ///< no Python interpreter (as "command not found")
inline constexpr int terminated = 143;      ///< a setup step was stopped by SIGTERM (128+15)
}  // namespace exit_code

/// Why a step failed; decides the exit code in exactly one place (exit_code_for()).
enum class FailureKind { timeout, interpreter_missing, terminated, failed };

/// Thrown by a stage to stop the run: carries the checkpoint, a message naming what failed,
/// a hint saying what to do next, and any detail to record.
class StepError : public std::runtime_error {
 public:
  /// `signal` is the signal that stopped the step (FailureKind::terminated), else 0.
  StepError(Id checkpoint, FailureKind kind, const std::string& message, std::string hint,
            nlohmann::json detail = nlohmann::json::object(), int signal = 0)
      : std::runtime_error(message),
        checkpoint_(checkpoint),
        kind_(kind),
        hint_(std::move(hint)),
        detail_(std::move(detail)),
        signal_(signal) {}

  [[nodiscard]] Id checkpoint() const { return checkpoint_; }
  [[nodiscard]] FailureKind kind() const { return kind_; }
  [[nodiscard]] const std::string& hint() const { return hint_; }
  [[nodiscard]] const nlohmann::json& detail() const { return detail_; }
  [[nodiscard]] int signal() const { return signal_; }

 private:
  Id checkpoint_;
  FailureKind kind_;
  std::string hint_;
  nlohmann::json detail_;
  int signal_ = 0;
};

/// The exit code for a failure kind: timeout→124, interpreter_missing→127,
/// terminated→143, failed→125.
int exit_code_for(FailureKind kind);

/// The exit code for a boundary error: exit_code_for(kind), except that a step stopped by
/// signal n exits 128+n (143 for SIGTERM), like a process killed by it.
int exit_code_for(const StepError& error);

/// The checkpoint status a failure kind is recorded with (`timeout` or `failed`).
Status status_for(FailureKind kind);

/// Exit code for a raw wait(2) status: WEXITSTATUS for a normal exit, 128+WTERMSIG for a signal.
int exit_code_from_wait_status(int raw_status);

}  // namespace taskrunner::report
