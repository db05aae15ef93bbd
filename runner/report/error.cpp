#include "taskrunner/report/error.hpp"

#include <sys/wait.h>

namespace taskrunner::report {

int exit_code_for(FailureKind kind) {
  switch (kind) {
    case FailureKind::timeout: return exit_code::setup_timeout;
    case FailureKind::interpreter_missing: return exit_code::no_interpreter;
    case FailureKind::terminated: return exit_code::terminated;
    case FailureKind::failed: return exit_code::setup_failed;
  }
  return exit_code::setup_failed;
}

int exit_code_for(const StepError& error) {
  if (error.kind() == FailureKind::terminated && error.signal() > 0) return 128 + error.signal();
  return exit_code_for(error.kind());
}

Status status_for(FailureKind kind) {
  return kind == FailureKind::timeout ? Status::timeout : Status::failed;
}

int exit_code_from_wait_status(int raw_status) {
  if (WIFEXITED(raw_status)) return WEXITSTATUS(raw_status);
  if (WIFSIGNALED(raw_status)) return 128 + WTERMSIG(raw_status);
  return exit_code::setup_failed;
}

}  // namespace taskrunner::report
