#pragma once
// Running one child process: argv vector (never a shell), its own process group, live tee of
// stdout/stderr to our stdout/stderr and the log file, a timeout with SIGTERM → grace → SIGKILL
// to the whole group, and the exact wait status.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "taskrunner/execution/credentials.hpp"
#include "taskrunner/util/env.hpp"

namespace taskrunner::execution {

/// What to run. `executable` is used as given (no PATH search); see find_on_path().
struct Command {
  std::filesystem::path executable;
  std::vector<std::string> args;  ///< argv[1..]; argv[0] is `executable`
  util::EnvMap env;               ///< the child's complete environment
  std::optional<std::filesystem::path> cwd;
  /// Run as this uid/gid: drop_privileges() in the child before exec (docs/security.md).
  std::optional<Credentials> run_as;
};

/// How to run it.
struct RunOptions {
  /// Kill the process group after this long (SIGTERM, then SIGKILL after `grace`). None = no limit.
  std::optional<std::chrono::milliseconds> timeout;
  std::chrono::milliseconds grace{5000};
  /// true: the child reads our stdin; false: /dev/null.
  bool inherit_stdin = false;
  /// true: the signals in kForwardedSignals received by taskrunner are passed to the child's
  /// process group and the child decides; after a forwarded SIGTERM the group gets SIGKILL once
  /// `grace` has passed. false (setup steps): SIGTERM, SIGINT, SIGHUP or SIGQUIT stops the step —
  /// SIGTERM to the group, then SIGKILL after `grace` — and is reported in
  /// RunResult::interrupted_by.
  bool forward_signals = false;
  /// true: stream stdout/stderr live to our fds 1/2 and the log file. false: only capture.
  /// When the child's output to stderr (or to the log file) does not end with a newline, one
  /// is added after it exits, so taskrunner's next JSON record starts on its own line.
  bool tee = true;
  /// true: the child's stdout goes to our stderr too (setup steps), keeping our stdout for the
  /// user code alone — Argo's `outputs.result` is the container's stdout.
  bool stdout_to_stderr = false;
  /// Keep up to this many bytes of the child's stdout in RunResult::captured_stdout.
  std::size_t capture_limit = 0;
  /// Keep the last this-many bytes of combined output in RunResult::output_tail (for diagnosis).
  std::size_t tail_limit = std::size_t{16} * 1024;
  /// When not empty, every line the child writes is prefixed with this in the teed copies (our
  /// stderr/stdout and the log file), so a step running alongside another stays attributable.
  std::string line_prefix;
};

/// After the child exits, how long to keep reading pipes still held open by its descendants
/// before closing them (milliseconds).
inline constexpr std::chrono::milliseconds kDrainAfterExit{2000};

/// After a step ended, how long its leftover processes (same process group, or orphans
/// reparented to taskrunner) get between SIGTERM and SIGKILL (milliseconds).
inline constexpr std::chrono::milliseconds kStrayGrace{1000};

/// What happened.
struct RunResult {
  bool started = false;
  std::string start_error;  ///< why it could not start (errno text naming the executable)
  int raw_status = 0;       ///< wait(2) status
  int exit_code = 0;        ///< WEXITSTATUS, or 128+signal when killed by a signal
  bool timed_out = false;
  int interrupted_by = 0;  ///< signal that stopped a setup step (forward_signals == false)
  std::int64_t duration_ms = 0;
  bool cancelled = false;  ///< stopped by ProcessRunner::cancel_running() (another step failed)
  int strays_killed = 0;   ///< leftover processes of the step that had to be signalled
  std::uint64_t stdout_bytes = 0;
  std::uint64_t stderr_bytes = 0;
  std::string captured_stdout;
  std::string output_tail;
};

/// A process started with ProcessRunner::start() that runs while other steps run.
class BackgroundRun {
 public:
  virtual ~BackgroundRun() = default;
  /// True once the process exited and its output was drained.
  [[nodiscard]] virtual bool finished() const = 0;
  /// Blocks until it finished (streaming its output meanwhile), kills its leftovers and returns
  /// the result. Call once.
  virtual RunResult wait() = 0;
  /// Stops it (SIGTERM to its process group, SIGKILL after the grace period), then wait()s.
  virtual RunResult stop() = 0;
};

/// Called once when a background run finished, from inside whatever run() or wait() is driving
/// the event loop at that moment.
using OnFinished = std::function<void(const RunResult&)>;

/// The seam for tests: everything that starts processes goes through a ProcessRunner.
class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  /// Runs `command` to completion (foreground).
  virtual RunResult run(const Command& command, const RunOptions& options) = 0;
  /// Starts `command` in the background: its output streams (and its timeout runs) while later
  /// run() calls or BackgroundRun::wait() drive the event loop. `on_finished` may be empty.
  virtual std::unique_ptr<BackgroundRun> start(const Command& command, const RunOptions& options,
                                               const OnFinished& on_finished) = 0;
  /// Stops the foreground run() in progress, if any (its RunResult says `cancelled`): used when
  /// a background step failed and the foreground step's work is no longer needed.
  virtual void cancel_running() {}
};

class Supervisor;
struct Job;

/// The real runner: Boost.Process v2 launches, the Supervisor's Asio context streams and waits.
/// Single-threaded: every run and background run shares the Supervisor's io_context.
class SystemProcessRunner final : public ProcessRunner {
 public:
  explicit SystemProcessRunner(Supervisor& supervisor) : supervisor_(supervisor) {}
  RunResult run(const Command& command, const RunOptions& options) override;
  std::unique_ptr<BackgroundRun> start(const Command& command, const RunOptions& options,
                                       const OnFinished& on_finished) override;
  void cancel_running() override;

  // Used by the jobs themselves.
  Supervisor& supervisor() { return supervisor_; }
  /// Keeps one async_wait on the signal set armed while any job is active.
  void arm_signals();
  /// Runs the event loop until `done()` holds.
  void drive(const std::function<bool()>& done);
  std::vector<std::shared_ptr<Job>>& active() { return active_; }

 private:
  Supervisor& supervisor_;
  std::vector<std::shared_ptr<Job>> active_;
  bool signals_armed_ = false;
};

/// Runs a short probe (`uv --version`, the interpreter query) without teeing its output:
/// captures up to `capture_limit` bytes of stdout, stops it after `timeout` (then 1 s grace).
RunResult run_probe(ProcessRunner& runner, const Command& command, std::size_t capture_limit,
                    std::chrono::milliseconds timeout);

/// Searches `name` in the colon-separated `path_var` like execvp(3) (a name containing '/' is
/// returned as is if executable). Returns nullopt when not found.
std::optional<std::filesystem::path> find_on_path(const std::string& name,
                                                  const std::string& path_var);

}  // namespace taskrunner::execution
