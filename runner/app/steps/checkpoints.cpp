#include "checkpoints.hpp"

#include <algorithm>

#include "taskrunner/report/hints.hpp"
#include "taskrunner/report/log.hpp"

namespace taskrunner::app::steps {

using report::ErrorInfo;
using report::Failure;
using report::FailureKind;
using report::Id;
using report::Status;
using report::StepError;

namespace {

std::string hint(Failure f) { return std::string(report::hint_for(f).text); }
std::string step_name(Id id) { return std::string(report::name(id)); }

StepError cancelled(Id id, nlohmann::json detail) {
  detail["reason"] = "cancelled";
  return {id, FailureKind::failed, step_name(id) + " was stopped because system_deps failed",
          hint(Failure::cancelled), detail};
}

}  // namespace

const StepError& Checkpoints::record(const StepError& e) const {
  rec.finish(e.checkpoint(), report::status_for(e.kind()), e.detail(),
             ErrorInfo{e.what(), e.hint()});
  return e;
}

void Checkpoints::start(Id id) const {
  rec.start(id);
  if (const int sig = supervisor != nullptr ? supervisor->pending_termination() : 0) {
    throw record(StepError(
        id, FailureKind::terminated,
        "stopped by signal " + std::to_string(sig) + " before " + step_name(id) + " began",
        hint(Failure::terminated), {{"reason", "terminated"}, {"signal", sig}}, sig));
  }
  if (cancelled_by_system_deps != nullptr && *cancelled_by_system_deps) {
    throw record(cancelled(id, nlohmann::json::object()));
  }
}

void Checkpoints::run(Id id, const std::function<report::Outcome()>& step) const {
  start(id);
  report::Outcome o;
  try {
    o = step();
  } catch (const StepError& e) {
    if (cancelled_by_system_deps != nullptr && *cancelled_by_system_deps) {
      throw record(cancelled(id, e.detail()));
    }
    record(e);
    if (doctor) return;
    throw;
  }
  rec.finish(id, o.status, o.detail, o.error);
  if (o.status == Status::warn && o.error) {
    report::log().warn("{}: {} (hint: {})", report::name(id), o.error->message, o.error->hint);
  }
  if (o.status == Status::failed && !doctor) {
    // Recorded above; the boundary error only carries the exit code and summary from here.
    throw StepError(id, FailureKind::failed, o.error ? o.error->message : "failed",
                    o.error ? o.error->hint : "");
  }
}

void Checkpoints::skip(Id id, const std::string& reason) const {
  run(id, [&] {
    report::Outcome o;
    o.status = Status::skipped;
    o.detail["reason"] = reason;
    return o;
  });
}

ChildLimit bounded(std::optional<std::chrono::milliseconds> limit, const Settings& s) {
  ChildLimit l;
  l.applied = limit;
  l.configured = limit.value_or(std::chrono::milliseconds(0));
  if (!s.deadline) return l;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        *s.deadline - std::chrono::system_clock::now()) -
                    s.grace - kGraceMargin;
  const auto rest = std::max(left, std::chrono::milliseconds(0));
  if (!limit || rest < *limit) {
    l.by_deadline = true;
    l.applied = rest;
  }
  return l;
}

std::optional<StepError> child_failure(Id id, const execution::RunResult& r,
                                       const ChildLimit& limit, nlohmann::json detail,
                                       const std::string& timeout_hint) {
  if (!r.started) {
    detail["failure"] = std::string(report::hint_for(Failure::start_failed).id);
    return StepError(id,
                     id == Id::user_code ? FailureKind::interpreter_missing : FailureKind::failed,
                     r.start_error, hint(Failure::start_failed), detail);
  }
  if (r.cancelled) return cancelled(id, detail);
  if (r.interrupted_by != 0) {
    detail["reason"] = "terminated";
    detail["signal"] = r.interrupted_by;
    return StepError(id, FailureKind::terminated,
                     step_name(id) + " was stopped by signal " + std::to_string(r.interrupted_by),
                     hint(Failure::terminated), detail, r.interrupted_by);
  }
  if (!r.timed_out) return std::nullopt;
  detail["timeout_ms"] = limit.applied.value_or(limit.configured).count();
  if (limit.by_deadline) {
    detail["reason"] = "deadline";
    return StepError(
        id, FailureKind::timeout,
        step_name(id) + " was stopped: the workflow's ARGO_DEADLINE leaves no more time",
        hint(Failure::deadline), detail);
  }
  detail["failure"] = std::string(report::hint_for(Failure::step_timeout).id);
  return StepError(id, FailureKind::timeout,
                   step_name(id) + " did not finish within " +
                       std::to_string(limit.configured.count() / 1000) + " s",
                   timeout_hint.empty() ? hint(Failure::step_timeout) : timeout_hint, detail);
}

execution::RunResult run_setup_step(execution::ProcessRunner& runner, Id id,
                                    const execution::Command& cmd, const Settings& s) {
  execution::RunOptions opts;
  const auto limit = bounded(s.install_timeout, s);
  opts.timeout = limit.applied;
  opts.grace = s.grace;
  opts.stdout_to_stderr = true;
  auto r = runner.run(cmd, opts);
  if (auto e = child_failure(
          id, r, limit,
          {{"command", cmd.executable.filename().string()}, {"duration_ms", r.duration_ms}},
          "raise TASKRUNNER_INSTALL_TIMEOUT (seconds) or check the index and "
          "network speed; the installer output above shows where it stalled")) {
    throw *e;
  }
  return r;
}

}  // namespace taskrunner::app::steps
