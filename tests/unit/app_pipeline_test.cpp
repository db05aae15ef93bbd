// The orchestrator (app::run_pipeline) with the process seam faked: no process starts, so every
// checkpoint's failure path, the order of the records and the exit codes are checked in
// milliseconds. The end-to-end suites run the same recipe with real processes.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "app/steps/steps.hpp"
#include "taskrunner/app/pipeline.hpp"
#include "taskrunner/report/error.hpp"
#include "testutil.hpp"

using namespace taskrunner;
using execution::Command;
using execution::RunOptions;
using execution::RunResult;
using report::Id;
using report::Status;
using testutil::FakeRunner;

namespace {

/// A loopback HTTP server answering every request with 200, for the `network` check.
class TinyIndex {
 public:
  TinyIndex() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    (void)::bind(fd_, reinterpret_cast<sockaddr*>(&a), len);
    (void)::listen(fd_, 16);
    (void)::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) break;
        char buf[4096];
        (void)::read(c, buf, sizeof buf);
        const char reply[] = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        (void)::write(c, reply, sizeof reply - 1);
        ::close(c);
      }
    });
  }
  ~TinyIndex() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  [[nodiscard]] std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/simple";
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// One run of the pipeline against the fake runner, in its own temp dirs.
struct PipelineRun {
  testutil::TempDir dir{"taskrunner-pipeline"};
  app::Settings s;
  spec::TaskSpec task;
  FakeRunner runner;
  std::vector<std::string> lines;
  report::Recorder rec{"run", "wf", [this](const std::string& l) { lines.push_back(l); }};

  PipelineRun() {
    s.work_dir = dir / "work";
    s.results_dir = dir / "results";
    s.uv_cache_dir = dir / "uv-cache";
    s.tools_dir = dir / "tools";
    s.env_cache = dir / "env-cache";
    s.env_mode = environment::EnvMode::off;
    s.install_retries = 0;
    s.min_free_bytes = 0;
    s.network_timeout = std::chrono::milliseconds(2000);
    s.grace = std::chrono::milliseconds(10);
    const auto python = dir / "bin" / "python3";
    testutil::write_file(python, "#!/bin/false\n");
    ::chmod(python.c_str(), 0755);
    s.python = python.string();
    s.env = testutil::Env().set("PATH", "").map;
    task.code = "print(1)";
    runner.script = [this](const Command& c, const RunOptions& o) { return answer(c, o); };
  }

  /// What each command answers unless a test replaces it.
  std::function<RunResult(const Command&, const RunOptions&)> on_probe = [](const Command&,
                                                                            const RunOptions&) {
    auto r = FakeRunner::exited(0);
    r.captured_stdout = "/usr/bin/python3.11\n3.11.2\n1\n";
    return r;
  };
  std::function<RunResult(const Command&, const RunOptions&)> on_venv = ok;
  std::function<RunResult(const Command&, const RunOptions&)> on_install = ok;
  std::function<RunResult(const Command&, const RunOptions&)> on_code = ok;
  std::function<RunResult(const Command&, const RunOptions&)> on_nix = ok;

  static RunResult ok(const Command&, const RunOptions&) { return FakeRunner::exited(0); }

  RunResult answer(const Command& c, const RunOptions& o) {
    const auto exe = c.executable.filename().string();
    const auto first = c.args.empty() ? std::string() : c.args.front();
    if (exe == "python3" && first == "-c") return on_probe(c, o);
    if (exe.starts_with("python3") && first == "-m" && c.args.at(1) == "venv") return on_venv(c, o);
    if (first == "-m" && c.args.at(1) == "pip") return on_install(c, o);
    if (exe == "python") return on_code(c, o);
    return on_nix(c, o);
  }

  int go() {
    rec.start(Id::spec);
    rec.finish(Id::spec, Status::ok);
    const int code = app::run_pipeline(s, task, rec, runner);
    rec.finish_run(code);
    return code;
  }
  [[nodiscard]] const report::Record& at(Id id) const {
    const auto* r = rec.find(id);
    EXPECT_NE(r, nullptr) << report::name(id);
    return *r;
  }
  [[nodiscard]] std::string reason(Id id) const { return at(id).detail.value("reason", ""); }
};

RunResult timed_out(const Command&, const RunOptions&) {
  auto r = FakeRunner::exited(143);
  r.timed_out = true;
  return r;
}
RunResult not_started(const Command& c, const RunOptions&) {
  RunResult r;
  r.start_error = "cannot start " + c.executable.string() + ": No such file or directory";
  return r;
}
RunResult terminated(const Command&, const RunOptions&) {
  auto r = FakeRunner::exited(143);
  r.interrupted_by = 15;
  return r;
}

}  // namespace

TEST(Pipeline, RecordsEveryCheckpointInOrderAndPassesTheExitCodeThrough) {
  PipelineRun run;
  run.on_code = [](const Command&, const RunOptions& o) {
    EXPECT_TRUE(o.forward_signals);
    EXPECT_TRUE(o.inherit_stdin);
    return FakeRunner::exited(3);
  };
  EXPECT_EQ(run.go(), 3);
  const auto doc = run.rec.document();
  std::vector<std::string> ids;
  for (const auto& c : doc["checkpoints"]) ids.push_back(c["id"]);
  std::vector<std::string> expected;
  for (const auto& c : report::kCheckpoints) expected.emplace_back(c.name);
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(run.at(Id::network).status, Status::skipped);
  EXPECT_EQ(run.at(Id::uv).status, Status::warn);  // no uv: pip fallback
  EXPECT_EQ(run.at(Id::nix).status, Status::skipped);
  EXPECT_EQ(run.at(Id::system_deps).status, Status::skipped);
  EXPECT_EQ(run.at(Id::venv).status, Status::ok);
  EXPECT_EQ(run.at(Id::python_deps).status, Status::skipped);
  EXPECT_EQ(run.at(Id::user_code).status, Status::failed);
  EXPECT_EQ(run.at(Id::user_code).detail["exit_code"], 3);
  EXPECT_EQ(run.runner.names(),
            (std::vector<std::string>{"python3 -c", "python -c"}));  // the venv: written, no child
  EXPECT_EQ(run.at(Id::venv).detail["created_by"], "taskrunner");
  const auto venv = run.s.work_dir / "venv";
  EXPECT_EQ(std::filesystem::read_symlink(venv / "bin" / "python3"), "/usr/bin/python3.11");
  EXPECT_EQ(std::filesystem::read_symlink(venv / "bin" / "python"), "python3");
  EXPECT_TRUE(std::filesystem::is_directory(venv / "lib" / "python3.11" / "site-packages"));
  EXPECT_TRUE(std::filesystem::exists(run.s.results_dir / "checkpoints.json"));
  // Each checkpoint: one `running` line, one terminal line.
  EXPECT_EQ(run.lines.size(), 22U);
}

TEST(Pipeline, RuntimeFailsOnAnUnwritableWorkDir) {
  PipelineRun run;
  testutil::write_file(run.dir / "file", "x");
  run.s.work_dir = run.dir / "file" / "work";
  EXPECT_EQ(run.go(), report::exit_code::setup_failed);
  EXPECT_EQ(run.at(Id::runtime).status, Status::failed);
  EXPECT_EQ(run.reason(Id::cache_mounts), "not reached");
  EXPECT_TRUE(run.runner.calls.empty());
}

TEST(Pipeline, CacheMountsWarnsAndTheRunGoesOnWithoutTheCache) {
  PipelineRun run;
  testutil::write_file(run.dir / "not-a-dir", "x");
  run.s.uv_cache_dir = run.dir / "not-a-dir";
  EXPECT_EQ(run.go(), 0);
  EXPECT_EQ(run.at(Id::cache_mounts).status, Status::warn);
  EXPECT_EQ(run.at(Id::cache_mounts).detail["running_without_cache"], true);
  EXPECT_EQ(run.at(Id::user_code).status, Status::ok);
}

TEST(Pipeline, DiskSpaceFailsBelowTheMinimum) {
  PipelineRun run;
  run.s.min_free_bytes = std::uint64_t{1} << 62;
  EXPECT_EQ(run.go(), report::exit_code::setup_failed);
  EXPECT_EQ(run.at(Id::disk_space).status, Status::failed);
  EXPECT_EQ(run.at(Id::disk_space).detail["failure"], "no_space");
  EXPECT_TRUE(run.runner.calls.empty());
}

TEST(Pipeline, NetworkFailsWhenTheIndexRefuses) {
  PipelineRun run;
  run.task.python_deps = {spec::RequirementLine{"six", {}, 1}};
  run.task.index_url = "http://127.0.0.1:9/simple";
  EXPECT_EQ(run.go(), report::exit_code::setup_failed);
  EXPECT_EQ(run.at(Id::network).status, Status::failed);
  EXPECT_EQ(run.at(Id::network).detail["failure"], "connection_refused");
  EXPECT_EQ(run.reason(Id::uv), "not reached");
}

TEST(Pipeline, UvFailsWhenTheNamedBinaryIsMissing) {
  PipelineRun run;
  run.s.uv = (run.dir / "no-uv").string();
  EXPECT_EQ(run.go(), report::exit_code::setup_failed);
  EXPECT_EQ(run.at(Id::uv).status, Status::failed);
  EXPECT_NE(run.at(Id::uv).error->message.find("TASKRUNNER_UV"), std::string::npos);
}

TEST(Pipeline, NixFailsWhenSystemDepsHaveNoNix) {
  PipelineRun run;
  run.task.system_deps = {"hello"};
  EXPECT_EQ(run.go(), report::exit_code::setup_failed);
  EXPECT_EQ(run.at(Id::nix).status, Status::failed);
  EXPECT_EQ(run.reason(Id::system_deps), "not reached");
}

/// The base interpreter without pip: the venv comes from `python -m venv` (ensurepip), a child
/// whose failures the tests below script.
void without_base_pip(PipelineRun& run) {
  run.on_probe = [](const Command&, const RunOptions&) {
    auto r = FakeRunner::exited(0);
    r.captured_stdout = "/usr/bin/python3.11\n3.11.2\n0\n";
    return r;
  };
}

TEST(Pipeline, VenvFailures) {
  {
    PipelineRun run;
    without_base_pip(run);
    run.on_venv = [](const Command&, const RunOptions&) { return FakeRunner::exited(1); };
    EXPECT_EQ(run.go(), report::exit_code::setup_failed);
    EXPECT_EQ(run.at(Id::venv).status, Status::failed);
    EXPECT_EQ(run.at(Id::venv).detail["created_by"], "python -m venv");
    EXPECT_EQ(run.reason(Id::user_code), "not reached");
  }
  {
    PipelineRun run;
    without_base_pip(run);
    run.on_venv = timed_out;
    EXPECT_EQ(run.go(), report::exit_code::setup_timeout);
    EXPECT_EQ(run.at(Id::venv).status, Status::timeout);
    EXPECT_EQ(run.at(Id::venv).detail["failure"], "step_timeout");
  }
  {
    PipelineRun run;
    without_base_pip(run);
    run.on_venv = not_started;
    EXPECT_EQ(run.go(), report::exit_code::setup_failed);
    EXPECT_EQ(run.at(Id::venv).detail["failure"], "start_failed");
  }
  {
    PipelineRun run;  // the interpreter does not run
    run.on_probe = [](const Command&, const RunOptions&) { return FakeRunner::exited(1); };
    EXPECT_EQ(run.go(), report::exit_code::no_interpreter);
    EXPECT_EQ(run.at(Id::venv).detail["failure"], "interpreter_missing");
  }
}

TEST(Pipeline, PythonDepsFailures) {
  TinyIndex index;
  const auto with_deps = [&](PipelineRun& run) {
    run.task.python_deps = {spec::RequirementLine{"six", {}, 1}};
    run.task.index_url = index.url();
  };
  {
    PipelineRun run;
    with_deps(run);
    run.on_install = [](const Command&, const RunOptions& o) {
      EXPECT_TRUE(o.stdout_to_stderr);  // setup output never reaches the task's stdout
      return FakeRunner::exited(1, "ERROR: No matching distribution found for six\n");
    };
    EXPECT_EQ(run.go(), report::exit_code::setup_failed);
    EXPECT_EQ(run.at(Id::network).status, Status::ok);
    EXPECT_EQ(run.at(Id::python_deps).detail["failure"], "unknown_package");
    EXPECT_EQ(run.reason(Id::user_code), "not reached");
  }
  {
    PipelineRun run;
    with_deps(run);
    run.on_install = terminated;
    EXPECT_EQ(run.go(), report::exit_code::terminated);
    EXPECT_EQ(run.reason(Id::python_deps), "terminated");
  }
  {
    PipelineRun run;
    with_deps(run);
    run.on_install = timed_out;
    EXPECT_EQ(run.go(), report::exit_code::setup_timeout);
    EXPECT_EQ(run.at(Id::python_deps).status, Status::timeout);
  }
  {
    PipelineRun run;  // the deadline, not the install timeout, decides
    with_deps(run);
    run.s.deadline = std::chrono::system_clock::now() + std::chrono::hours(1);
    run.s.install_timeout = std::chrono::hours(5);
    run.on_install = timed_out;
    EXPECT_EQ(run.go(), report::exit_code::setup_timeout);
    EXPECT_EQ(run.reason(Id::python_deps), "deadline");
  }
  {
    PipelineRun run;
    with_deps(run);
    EXPECT_EQ(run.go(), 0);
    EXPECT_EQ(run.at(Id::python_deps).status, Status::ok);
    EXPECT_EQ(run.at(Id::python_deps).detail["requested"], 1);
  }
}

TEST(Pipeline, UserCodeFailures) {
  {
    PipelineRun run;
    run.on_code = timed_out;
    run.s.code_timeout = std::chrono::seconds(5);
    EXPECT_EQ(run.go(), report::exit_code::setup_timeout);
    EXPECT_EQ(run.at(Id::user_code).status, Status::timeout);
    EXPECT_EQ(run.at(Id::user_code).detail["timeout_ms"], 5000);
  }
  {
    PipelineRun run;
    run.on_code = not_started;
    EXPECT_EQ(run.go(), report::exit_code::no_interpreter);
    EXPECT_EQ(run.at(Id::user_code).status, Status::failed);
  }
  {
    PipelineRun run;
    run.on_code = [](const Command&, const RunOptions&) {
      auto r = FakeRunner::exited(128 + 9);
      r.raw_status = 9;  // killed by SIGKILL
      return r;
    };
    EXPECT_EQ(run.go(), 137);
    EXPECT_EQ(run.at(Id::user_code).detail["signal"], 9);
  }
  {
    PipelineRun run;
    run.s.warm_only = true;
    EXPECT_EQ(run.go(), 0);
    EXPECT_EQ(run.at(Id::user_code).status, Status::skipped);
  }
}

namespace {
/// A run with system deps, a nix-portable on TASKRUNNER_NIX_PORTABLE and a cold key.
void with_nix(PipelineRun& run) {
  const auto np = run.dir / "bin" / "nix-portable";
  testutil::write_file(np, "#!/bin/false\n");
  ::chmod(np.c_str(), 0755);
  run.s.nix_portable = np.string();
  run.s.nix_roots = run.dir / "roots";
  run.s.env["NP_LOCATION"] = (run.dir / "np").string();
  run.task.system_deps = {"hello"};
  run.on_nix = [](const Command& c, const RunOptions&) {
    auto r = FakeRunner::exited(0);
    if (!c.args.empty() && c.args.back() == "--version") r.captured_stdout = "nix (Nix) 2.8.0\n";
    return r;
  };
}
}  // namespace

TEST(Pipeline, AFailingSystemDepsBuildCancelsTheForegroundStep) {
  PipelineRun run;
  with_nix(run);
  const auto version = run.on_nix;
  run.on_nix = [version](const Command& c, const RunOptions& o) {
    if (!c.args.empty() && c.args.front() == "nix-build-once") {
      return FakeRunner::exited(1, "error: attribute 'hello' missing\n");
    }
    return version(c, o);
  };
  EXPECT_EQ(run.go(), report::exit_code::setup_failed);
  EXPECT_EQ(run.at(Id::nix).status, Status::ok);
  EXPECT_EQ(run.at(Id::system_deps).status, Status::failed);
  EXPECT_EQ(run.reason(Id::venv), "cancelled");
  EXPECT_EQ(run.reason(Id::python_deps), "not reached");
  // The build ran in the background, as the single-flight helper.
  ASSERT_GE(run.runner.calls.size(), 2U);
  const auto build = std::find_if(run.runner.calls.begin(), run.runner.calls.end(),
                                  [](const FakeRunner::Call& c) { return c.background; });
  ASSERT_NE(build, run.runner.calls.end());
  EXPECT_EQ(build->command.args.front(), "nix-build-once");
  EXPECT_EQ(build->options.line_prefix, "[system_deps] ");
}

TEST(Pipeline, AFailingForegroundStepStopsARunningBuild) {
  PipelineRun run;
  with_nix(run);
  run.runner.background_finishes = false;
  without_base_pip(run);
  run.on_venv = [](const Command&, const RunOptions&) { return FakeRunner::exited(1); };
  EXPECT_EQ(run.go(), report::exit_code::setup_failed);
  EXPECT_EQ(run.at(Id::venv).status, Status::failed);
  EXPECT_EQ(run.at(Id::system_deps).status, Status::failed);
  EXPECT_EQ(run.reason(Id::system_deps), "cancelled");
  EXPECT_TRUE(run.runner.stopped);
}

TEST(Pipeline, DoctorRunsTheChecksOnlyAndGoesOnPastFailures) {
  PipelineRun run;
  run.s.doctor = true;
  run.s.min_free_bytes = std::uint64_t{1} << 62;  // disk_space fails; doctor goes on
  EXPECT_EQ(run.go(), 0);
  EXPECT_EQ(run.at(Id::disk_space).status, Status::failed);
  for (const auto& c : report::kCheckpoints) {
    if (c.in_doctor) {
      EXPECT_NE(run.at(c.id).status, Status::running) << c.name;
    } else {
      EXPECT_EQ(run.reason(c.id), "not reached") << c.name;
    }
  }
  EXPECT_TRUE(run.runner.calls.empty());  // no venv, no install, no code
  EXPECT_FALSE(std::filesystem::exists(run.s.results_dir / "checkpoints.json"));
}

TEST(SpecStep, FieldsFromFlagsWinAndErrorsNameTheField) {
  std::vector<std::string> lines;
  report::Recorder rec("run", "wf", [&](const std::string& l) { lines.push_back(l); });
  app::steps::SpecFlags flags;
  flags.code = "print(2)";
  flags.deps = std::vector<std::string>{"six"};
  auto loaded = app::steps::spec(rec, {{"PYTHON_CODE", "print(1)"}}, flags, false, false);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->task.code, "print(2)");
  EXPECT_EQ(rec.find(Id::spec)->status, Status::ok);

  report::Recorder bad("run", "wf", [&](const std::string& l) { lines.push_back(l); });
  flags.deps = std::vector<std::string>{"six;;;"};
  EXPECT_FALSE(app::steps::spec(bad, {}, flags, false, false));
  EXPECT_EQ(bad.find(Id::spec)->status, Status::failed);
  EXPECT_EQ(bad.find(Id::spec)->detail["field"], "PYTHON_DEPS");
}
