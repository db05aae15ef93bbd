#include "taskrunner/execution/process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "taskrunner/execution/supervisor.hpp"
#include "taskrunner/execution/user_code.hpp"

using namespace taskrunner::execution;
using namespace std::chrono_literals;

namespace {
// /bin/sh here is a test program, not a carrier for user input.
Command sh(const std::string& script, taskrunner::util::EnvMap env = {{"PATH", "/usr/bin:/bin"}}) {
  return Command{"/bin/sh", {"-c", script}, std::move(env), std::nullopt, std::nullopt};
}
RunOptions capture() {
  RunOptions o;
  o.tee = false;
  o.capture_limit = 1 << 20;
  return o;
}
}  // namespace

TEST(Process, ExitCodesPassThrough) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  EXPECT_EQ(r.run(sh("exit 7"), capture()).exit_code, 7);
  EXPECT_EQ(r.run(sh("exit 0"), capture()).exit_code, 0);
  const auto k = r.run(sh("kill -TERM $$"), capture());
  EXPECT_EQ(k.exit_code, 128 + SIGTERM);
  EXPECT_TRUE(WIFSIGNALED(k.raw_status));
}

TEST(Process, CapturesOutputAndEnvironmentExactly) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  const auto res = r.run(sh("printf '%s|%s' \"$FOO\" \"${HOME-unset}\"; printf 'e' >&2",
                            {{"FOO", "a b$c"}, {"PATH", "/bin"}}),
                         capture());
  EXPECT_EQ(res.captured_stdout, "a b$c|unset");
  EXPECT_EQ(res.stdout_bytes, 11U);
  EXPECT_EQ(res.stderr_bytes, 1U);
  EXPECT_EQ(res.output_tail, "a b$c|unsete");
}

TEST(Process, TailKeepsTheLastBytes) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  auto opts = capture();
  opts.tail_limit = 10;
  const auto res = r.run(
      sh("i=0; while [ $i -lt 2000 ]; do printf 0123456789; i=$((i+1)); done; printf END"), opts);
  EXPECT_EQ(res.output_tail, "3456789END");
  EXPECT_EQ(res.stdout_bytes, 20003U);
}

TEST(Process, OwnProcessGroupAndNoLeakedDescriptors) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  const auto pg = r.run(sh("echo $$ $(cut -d' ' -f5 /proc/$$/stat)"), capture());
  const auto sp = pg.captured_stdout.find(' ');
  EXPECT_EQ(pg.captured_stdout.substr(0, sp) + "\n", pg.captured_stdout.substr(sp + 1));
  const auto fds =
      r.run(Command{"/bin/ls", {"/proc/self/fd"}, {}, std::nullopt, std::nullopt}, capture());
  EXPECT_EQ(fds.captured_stdout, "0\n1\n2\n3\n");  // 3 is ls's own directory handle
}

TEST(Process, TimeoutTerminatesTheGroup) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  auto opts = capture();
  opts.timeout = 300ms;
  opts.grace = 200ms;
  auto res = r.run(sh("sleep 30 & sleep 30; echo never"), opts);
  EXPECT_TRUE(res.timed_out);
  EXPECT_EQ(res.exit_code, 128 + SIGTERM);
  EXPECT_LT(res.duration_ms, 5000);
  // A child that ignores SIGTERM gets SIGKILL after the grace period.
  res = r.run(sh("trap '' TERM; while :; do sleep 0.05; done"), opts);
  EXPECT_TRUE(res.timed_out);
  EXPECT_EQ(res.exit_code, 128 + SIGKILL);
  EXPECT_LT(res.duration_ms, 5000);
  EXPECT_EQ(res.captured_stdout.find("never"), std::string::npos);
}

TEST(Process, GrandchildHoldingThePipeDoesNotHang) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  const auto res = r.run(sh("sleep 4 & echo parent-done"), capture());
  EXPECT_EQ(res.exit_code, 0);
  EXPECT_EQ(res.captured_stdout, "parent-done\n");
  EXPECT_LT(res.duration_ms, kDrainAfterExit.count() + 1500);
}

TEST(Process, StartFailureIsReportedWithThePath) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  const auto res =
      r.run(Command{"/nonexistent/tool", {}, {}, std::nullopt, std::nullopt}, capture());
  EXPECT_FALSE(res.started);
  EXPECT_NE(res.start_error.find("/nonexistent/tool"), std::string::npos);
  EXPECT_NE(res.start_error.find("No such file"), std::string::npos);
}

TEST(Process, SignalDuringSetupStepStopsIt) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  auto opts = capture();
  opts.grace = 200ms;
  std::thread killer([] {
    std::this_thread::sleep_for(300ms);
    ::kill(::getpid(), SIGTERM);
  });
  const auto res = r.run(sh("sleep 5"), opts);
  killer.join();
  EXPECT_EQ(res.interrupted_by, SIGTERM);
  EXPECT_LT(res.duration_ms, 4000);
}

TEST(Process, FindOnPath) {
  EXPECT_EQ(find_on_path("sh", "/nonexistent:/bin"), std::filesystem::path("/bin/sh"));
  EXPECT_EQ(find_on_path("/bin/sh", ""), std::filesystem::path("/bin/sh"));
  EXPECT_FALSE(find_on_path("no-such-tool-xyz", "/bin:/usr/bin"));
  const auto plain = std::filesystem::temp_directory_path() / "taskrunner-unit-not-executable";
  { std::ofstream(plain) << "x"; }
  std::filesystem::permissions(plain, std::filesystem::perms(0644));
  EXPECT_FALSE(find_on_path(plain.string(), ""));  // not executable, even for root
  std::filesystem::remove(plain);
  EXPECT_FALSE(find_on_path("", "/bin"));
}

TEST(UserCode, CommandAndEnvironment) {
  taskrunner::spec::TaskSpec spec;
  spec.code = "print(1)";
  spec.args = {"a", "$(id)"};
  const auto c = user_code_command(spec, "/w/venv",
                                   {{"PATH", "/usr/bin"}, {"PYTHONHOME", "/x"}, {"KEEP", "1"}});
  EXPECT_EQ(c.executable, std::filesystem::path("/w/venv/bin/python"));
  EXPECT_EQ(c.args, (std::vector<std::string>{"-c", "print(1)", "a", "$(id)"}));
  EXPECT_EQ(c.env.at("PATH"), "/w/venv/bin:/usr/bin");
  EXPECT_EQ(c.env.at("VIRTUAL_ENV"), "/w/venv");
  EXPECT_EQ(c.env.at("PYTHONUNBUFFERED"), "1");
  EXPECT_EQ(c.env.count("PYTHONHOME"), 0U);
  EXPECT_EQ(c.env.at("KEEP"), "1");
  spec.code.reset();
  spec.code_file = "/src/task.py";
  spec.args.clear();
  EXPECT_EQ(user_code_command(spec, "/w/venv", {}).args,
            (std::vector<std::string>{"/src/task.py"}));
}

TEST(Process, BackgroundRunsWhileForegroundRuns) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  auto opts = capture();
  bool notified = false;
  const std::string flag = "/tmp/taskrunner-bg-" + std::to_string(::getpid());
  // Each waits (up to 5 s) for the other's file: both finish only if they overlap.
  auto bg = r.start(sh("touch " + flag + ".bg; i=0; while [ ! -e " + flag +
                       ".fg ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; "
                       "[ -e " +
                       flag + ".fg ] && printf bg; exit 3"),
                    opts, [&](const RunResult& res) { notified = res.exit_code == 3; });
  const auto fg = r.run(sh("touch " + flag + ".fg; i=0; while [ ! -e " + flag +
                           ".bg ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; "
                           "[ -e " +
                           flag + ".bg ] && printf fg"),
                        opts);
  const auto res = bg->wait();
  ::unlink((flag + ".bg").c_str());
  ::unlink((flag + ".fg").c_str());
  EXPECT_EQ(fg.captured_stdout, "fg");
  EXPECT_TRUE(notified);
  EXPECT_EQ(res.exit_code, 3);
  EXPECT_EQ(res.captured_stdout, "bg");
  EXPECT_EQ(fg.strays_killed, 0);  // the background step is not a stray of the foreground one
}

TEST(Process, CancelRunningStopsTheForegroundWhenTheBackgroundFails) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  auto bg = r.start(sh("sleep 0.2; exit 1"), capture(), [&](const RunResult& res) {
    if (res.exit_code != 0) r.cancel_running();
  });
  const auto fg = r.run(sh("sleep 30"), capture());
  EXPECT_TRUE(fg.cancelled);
  EXPECT_EQ(fg.exit_code, 128 + SIGTERM);
  EXPECT_LT(fg.duration_ms, 5000);
  EXPECT_EQ(bg->wait().exit_code, 1);
}

TEST(Process, StopEndsABackgroundRun) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  auto bg = r.start(sh("sleep 30"), capture(), {});
  EXPECT_FALSE(bg->finished());
  const auto res = bg->stop();
  EXPECT_TRUE(WIFSIGNALED(res.raw_status));
  EXPECT_LT(res.duration_ms, 5000);
}

TEST(Process, LinePrefixKeepsLinesWhole) {
  Supervisor sup;
  SystemProcessRunner r(sup);
  char path[] = "/tmp/taskrunner-prefix-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fd, STDERR_FILENO);
  RunOptions opts;
  opts.line_prefix = "[nix] ";
  opts.stdout_to_stderr = true;
  const auto res = r.run(sh("printf 'a\\nb'; sleep 0.1; printf 'c\\nd\\n'"), opts);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ::unlink(path);
  EXPECT_EQ(res.exit_code, 0);
  EXPECT_EQ(text, "[nix] a\n[nix] bc\n[nix] d\n");
}
