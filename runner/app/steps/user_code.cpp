// Checkpoint 11, `user_code`: the task's code with the venv's python, in its own process group,
// signals forwarded; its exit code is the run's. In exec mode taskrunner becomes it instead.
#include <fcntl.h>
#include <sys/wait.h>

#include "steps.hpp"
#include "taskrunner/app/run_outputs.hpp"
#include "taskrunner/execution/exec_mode.hpp"
#include "taskrunner/execution/user_code.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/spec/index_url.hpp"

namespace taskrunner::app::steps {

using report::Id;

namespace {

/// Privilege separation (docs/security.md): the code's own HOME, TMPDIR and outputs dir, the
/// check that the uid can reach the venv's python (and the code file), and the credentials on
/// the command. Fails the step, naming the path, when the uid could not run the code at all.
std::string drop_to(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec,
                    const environment::InstallContext& ictx, execution::Command& command) {
  const auto& who = *s.run_as;
  const auto fail = [&](const std::string& message) {
    throw cp.record(report::StepError(
        Id::user_code, report::FailureKind::failed, message,
        "make the path readable for that uid (directories 0755, files 0644) or set "
        "TASKRUNNER_RUN_AS=off to run the code as root (docs/security.md)",
        {{"run_as", execution::to_string(who)}}));
  };
  auto own = execution::prepare_user_dirs(who, s.work_dir, s.results_dir);
  if (!own) fail(own.error());
  for (const auto& [k, v] : *own) command.env[k] = v;
  if (auto why = execution::unreachable(who, ictx.venv / "bin" / "python")) fail(*why);
  if (spec.code_file) {
    if (auto why = execution::unreachable(who, *spec.code_file)) fail(*why);
  }
  command.run_as = who;
  return execution::to_string(who);
}

}  // namespace

int user_code(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec,
              execution::ProcessRunner& runner, const environment::InstallContext& ictx,
              EnvPlan& plan, const SystemDeps& sys) {
  if (s.warm_only) {
    cp.skip(Id::user_code, "cache warm: the environment was built, the code is not run");
    return 0;
  }
  auto command = execution::user_code_command(spec, ictx.venv, s.env);
  if (!s.pass_index_credentials) {
    // An index token is the installers' business: the code sees no URL that carries one.
    for (const char* var :
         {"TASKRUNNER_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"}) {
      const auto v = util::get(command.env, var);
      if (v && spec::redact_url(*v) != *v) command.env.erase(var);
    }
  }
  if (plan.enabled && plan.mode == environment::EnvMode::inplace) {
    command.env["PYTHONDONTWRITEBYTECODE"] = "1";  // the shared venv stays read-only
  }
  if (sys.store_path) {
    command = environment::use_system_env(std::move(command), *sys.nix, s.env, *sys.store_path,
                                          ictx.venv);
  }
  nlohmann::json separation;
  if (s.run_as) separation = drop_to(cp, s, spec, ictx, command);
  if (s.exec) {
    cp.run(Id::user_code, [&] {
      report::Outcome o;
      o.detail = {{"exec", true},
                  {"reason", "handed over: taskrunner replaced itself with Python"}};
      if (!separation.is_null()) o.detail["run_as"] = separation;
      return o;
    });
    cp.rec.write_output();                    // the last document this process writes
    write_run_outputs(s, cp.rec.document());  // no exit code: the process is handed over
    // The use lock of an in-place entry must outlive the hand-over: keep it across exec.
    if (plan.use_lock && plan.use_lock->held()) (void)::fcntl(plan.use_lock->fd(), F_SETFD, 0);
    const auto error = execution::exec_replacing_self(command, report::log_file_fd());
    report::log().error("exec mode: {}", error);
    return report::exit_code::no_interpreter;
  }
  cp.start(Id::user_code);
  execution::RunOptions opts;
  const auto limit = bounded(s.code_timeout, s);
  opts.timeout = limit.applied;
  opts.grace = s.grace;
  opts.inherit_stdin = true;
  opts.forward_signals = true;
  const auto r = runner.run(command, opts);
  nlohmann::json detail = {{"duration_ms", r.duration_ms},
                           {"stdout_bytes", r.stdout_bytes},
                           {"stderr_bytes", r.stderr_bytes}};
  if (!separation.is_null()) detail["run_as"] = separation;
  if (r.started) {
    detail["exit_code"] = r.exit_code;
    if (WIFSIGNALED(r.raw_status)) detail["signal"] = WTERMSIG(r.raw_status);
  }
  if (auto e = child_failure(Id::user_code, r, limit, detail,
                             "raise TASKRUNNER_CODE_TIMEOUT (seconds) or make the code faster")) {
    throw cp.record(*e);
  }
  if (r.exit_code == 0) {
    cp.rec.finish(Id::user_code, report::Status::ok, detail);
  } else {
    cp.rec.finish(
        Id::user_code, report::Status::failed, detail,
        report::ErrorInfo{
            WIFSIGNALED(r.raw_status)
                ? "the user code was killed by signal " + std::to_string(WTERMSIG(r.raw_status))
                : "the user code exited with code " + std::to_string(r.exit_code),
            "see the traceback or output of the user code above"});
  }
  return r.exit_code;
}

}  // namespace taskrunner::app::steps
