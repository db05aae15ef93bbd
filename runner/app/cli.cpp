#include "taskrunner/app/cli.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <random>

#include "steps/steps.hpp"
#include "taskrunner/app/cache_cmd.hpp"
#include "taskrunner/app/pipeline.hpp"
#include "taskrunner/app/report_cmd.hpp"
#include "taskrunner/app/run_outputs.hpp"
#include "taskrunner/app/settings.hpp"
#include "taskrunner/environment/system_env.hpp"
#include "taskrunner/execution/supervisor.hpp"
#include "taskrunner/report/error.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/report/termination.hpp"
#include "taskrunner/spec/task_spec.hpp"
#include "taskrunner/util/fs.hpp"

namespace po = boost::program_options;

namespace taskrunner::app {
namespace {

constexpr const char* kUsage = R"(Usage: taskrunner [run] [options] [-- ARGS...]
       taskrunner doctor [--json] [--spec FILE]
       taskrunner report CHECKPOINTS_JSON [--svg OUT] | --summary [--json] DIR...
       taskrunner cache status [--json] | prune [--max-bytes N] [--max-age DAYS] | warm [options]
       taskrunner --help | --version

Runs a Python task: checks the pod, finds uv (or falls back to pip), creates a virtualenv,
installs the task's Python dependencies (and, with Nix, its system dependencies in parallel),
then runs its code with the venv's python. ARGS become
sys.argv[1:]. With no arguments the task is read from the environment (the container ENTRYPOINT
case). Sources, later wins: environment, JSON spec (--spec / TASKRUNNER_SPEC), flags.

doctor runs the checks (spec ... nix) without installing or running anything and prints a table
(or --json); exit 0 when nothing failed. report renders a run's checkpoints.json as a timeline,
or with --summary every checkpoints.json under the DIRs as one fleet summary.
)";

constexpr const char* kEpilog = R"(
Task (environment / JSON spec field):
  PYTHON_CODE / python_code            inline code
  PYTHON_CODE_FILE / python_code_file  code file
  PYTHON_DEPS / python_deps            requirements, separated by spaces and/or commas
  REQUIREMENTS / requirements          requirements.txt content (only --hash options allowed)
  REQUIREMENTS_FILE / requirements_file
  REQUIREMENTS_LOCK / requirements_lock  a requirements.lock of an earlier run: install exactly
                                       that (docs/locks.md); empty: none
  SYSTEM_DEPS / system_deps            nixpkgs attribute paths, built into one Nix environment
  USE_CACHE / use_cache                default true
  TASKRUNNER_INDEX_URL (else UV_DEFAULT_INDEX, UV_INDEX_URL, PIP_INDEX_URL) / index_url

Runner: UV_CACHE_DIR, TASKRUNNER_WORK_DIR, TASKRUNNER_RESULTS_DIR, TASKRUNNER_PYTHON,
  TASKRUNNER_UV, TASKRUNNER_TOOLS_DIR, TASKRUNNER_INSTALL_TIMEOUT, TASKRUNNER_CODE_TIMEOUT,
  TASKRUNNER_GRACE_SECONDS, TASKRUNNER_NETWORK_TIMEOUT, TASKRUNNER_MIN_FREE_MB,
  TASKRUNNER_NIX_PORTABLE, TASKRUNNER_NIXPKGS, TASKRUNNER_NIX_ROOTS, NP_LOCATION,
  TASKRUNNER_ENV_CACHE, TASKRUNNER_ENV_MODE (off|snapshot|inplace|auto),
  TASKRUNNER_PUSHGATEWAY_URL, TASKRUNNER_PUSHGATEWAY_TIMEOUT, TASKRUNNER_TEMPLATE_NAME,
  TASKRUNNER_RESOLVE_MAX_AGE, TASKRUNNER_RUN_AS (UID[:GID]|off; as root default 65534),
  ARGO_WORKFLOW_NAME (see README; system deps: docs/system-deps.md).

Output: child output streams live to stdout/stderr and <results>/taskrunner.log; each checkpoint
transition is a JSON line on stderr; <results>/checkpoints.json holds the whole run and
<results>/metrics.prom its Prometheus metrics.

Exit codes: the user code's own; 128+n if it was killed by signal n; 2 invalid spec or usage;
124 a step timed out; 125 a setup checkpoint failed; 127 no Python interpreter;
143 a setup step was stopped by SIGTERM.
)";

std::string new_run_id() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> dist(0, 15);
  std::string id;
  for (int i = 0; i < 16; ++i) id.push_back("0123456789abcdef"[dist(rd)]);
  return id;
}

int usage_error(const std::string& message) {
  std::cerr << "taskrunner: " << message << "\nTry 'taskrunner --help'.\n";
  return report::exit_code::usage;
}

/// `taskrunner doctor`: the preflight checkpoints as a table (or JSON); 0 when none failed.
int print_doctor(const report::Recorder& recorder, bool json) {
  bool failed = false;
  for (const report::Id id : report::kAllIds) {
    const auto* r = recorder.find(id);
    failed = failed || (r != nullptr && (r->status == report::Status::failed ||
                                         r->status == report::Status::timeout));
  }
  if (json) {
    std::cout << recorder.document().dump(2) << "\n";
  } else {
    std::printf("%-13s %-8s %9s  %s\n", "CHECKPOINT", "STATUS", "TIME", "WHAT / HINT");
    for (const report::Id id : report::kAllIds) {
      const auto* r = recorder.find(id);
      if (r == nullptr) continue;
      std::string what;
      if (r->error) {
        what =
            r->error->message +
            (r->error->hint.empty() ? "" : "\n" + std::string(35, ' ') + "hint: " + r->error->hint);
      } else if (r->detail.contains("reason")) {
        what = r->detail["reason"].get<std::string>();
      }
      std::printf("%-13s %-8s %6lld ms  %s\n", std::string(report::name(id)).c_str(),
                  std::string(report::name(r->status)).c_str(),
                  static_cast<long long>(r->duration_ms), what.c_str());
    }
  }
  (void)std::fflush(stdout);
  return failed ? report::exit_code::setup_failed : 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Started with stdout or stderr closed (`taskrunner >&-`), the first descriptor opened later
  // would become fd 1 or 2: reopen them on /dev/null before anything else.
  if (!util::ensure_standard_fds()) return report::exit_code::setup_failed;
  (void)::signal(SIGPIPE, SIG_IGN);
  report::init_logging();

  std::vector<std::string> opts_args;
  std::vector<std::string> user_args;
  bool after_dashes = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (after_dashes) {
      user_args.push_back(a);
    } else if (a == "--") {
      after_dashes = true;
    } else {
      opts_args.push_back(a);
    }
  }
  std::string command = "run";
  if (!opts_args.empty() && !opts_args.front().starts_with("-")) {
    command = opts_args.front();
    opts_args.erase(opts_args.begin());
  }
  if (command == "report") return report_main(opts_args);
  bool warm = false;
  if (command == "cache") {
    if (opts_args.empty() || opts_args.front() != "warm") {
      return cache_main(opts_args, util::current_environment());
    }
    opts_args.erase(opts_args.begin());  // `cache warm`: a run that stops before the code
    command = "run";
    warm = true;
  }
  if (command == "nix-build-once") {
    return environment::nix_build_once_main(opts_args, user_args);  // internal, docs/system-deps.md
  }
  if (command != "run" && command != "doctor") {
    return usage_error("unknown command '" + command + "' (commands: run, doctor, report, cache)");
  }
  const bool doctor = command == "doctor";

  po::options_description desc("Options");
  desc.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
      "spec", po::value<std::string>()->value_name("FILE"), "JSON task spec (docs/spec.md)")(
      "code", po::value<std::string>()->value_name("CODE"), "inline Python code")(
      "code-file", po::value<std::string>()->value_name("FILE"), "Python file to run")(
      "dep", po::value<std::vector<std::string>>()->value_name("SPEC")->composing(),
      "a PEP 508 requirement (repeatable)")(
      "requirements", po::value<std::string>()->value_name("FILE"), "a requirements.txt file")(
      "lock", po::value<std::string>()->value_name("FILE"),
      "install exactly this requirements.lock (REQUIREMENTS_LOCK, docs/locks.md)")(
      "system-dep", po::value<std::vector<std::string>>()->value_name("ATTR")->composing(),
      "a nixpkgs attribute (repeatable)")(
      "exec", "after setup, replace taskrunner with the user's Python (TASKRUNNER_EXEC=1)")(
      "json", "doctor: print the checkpoint document as JSON instead of a table");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(opts_args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  if (vm.count("help") != 0U) {
    std::cout << kUsage << "\n" << desc << kEpilog;
    return 0;
  }
  if (vm.count("version") != 0U) {
    std::cout << "taskrunner " << TASKRUNNER_VERSION << "\n";
    return 0;
  }
  if (vm.count("code") != 0U && vm.count("code-file") != 0U) {
    return usage_error("--code and --code-file cannot be used together");
  }

  // From here on no signal takes its default action: each is queued for the running step.
  execution::Supervisor supervisor;
  const util::EnvMap env = util::current_environment();
  const auto finish_failed_spec = [&](report::Recorder& rec) {
    rec.finish_run(report::exit_code::usage);
    if (const auto path = termination_log_path(env)) {
      (void)report::write_termination_message(
          *path, report::termination_message(rec, report::exit_code::usage));
    }
    return report::exit_code::usage;
  };
  // `doctor` prints its own report on stdout; the JSON event lines would only repeat it.
  report::Recorder recorder(
      new_run_id(), util::get(env, "ARGO_WORKFLOW_NAME").value_or("local"),
      doctor ? report::Recorder::Emit([](const std::string&) {}) : report::Recorder::Emit(nullptr));
  if (const auto [trace, span] = trace_context(env); !trace.empty())
    recorder.set_trace(trace, span);
  steps::SpecFlags flags;
  const auto str = [&](const char* name) -> std::optional<std::string> {
    if (vm.count(name) == 0U) return std::nullopt;
    return vm[name].as<std::string>();
  };
  const auto list = [&](const char* name) -> std::optional<std::vector<std::string>> {
    if (vm.count(name) == 0U) return std::nullopt;
    return vm[name].as<std::vector<std::string>>();
  };
  flags.spec_file = str("spec");
  flags.code = str("code");
  flags.code_file = str("code-file");
  flags.deps = list("dep");
  flags.requirements_file = str("requirements");
  flags.requirements_lock = str("lock");
  flags.system_deps = list("system-dep");
  flags.args = user_args;
  flags.exec = vm.count("exec") != 0U;
  auto loaded = steps::spec(recorder, env, flags, doctor, warm);
  if (!loaded) return finish_failed_spec(recorder);
  const Settings& settings = loaded->settings;
  const spec::TaskSpec& task = loaded->task;
  // Separated from the user code, everything setup creates is writable by root alone.
  if (settings.run_as) ::umask(022);

  execution::SystemProcessRunner runner(supervisor);
  const int code = run_pipeline(settings, task, recorder, runner, &supervisor);
  if (doctor) return print_doctor(recorder, vm.count("json") != 0U);
  recorder.finish_run(code);
  write_run_outputs(settings, recorder.document());
  // The termination message is taskrunner's: after a failure its summary, after a success
  // nothing — emptied, so whatever the user code wrote there (it may be writable by anyone in
  // the container) never reaches Argo as the step's message.
  if (settings.termination_log && (code != 0 || settings.run_as)) {
    const auto st = report::write_termination_message(
        *settings.termination_log, code != 0 ? report::termination_message(recorder, code) : "");
    if (!st.ok()) report::log().warn("{}", st.error);
  }
  return code;
}

}  // namespace taskrunner::app
