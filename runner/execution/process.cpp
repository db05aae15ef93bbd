#include "taskrunner/execution/process.hpp"

#include "taskrunner/execution/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/start_dir.hpp>
#include <boost/process/v2/stdio.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "taskrunner/report/error.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/util/fs.hpp"

namespace bp = boost::process::v2;
namespace asio = boost::asio;

namespace taskrunner::execution {
namespace {

/// Closes every descriptor from `from` to `to` (inclusive) in the child.
void close_fds(unsigned from, unsigned to) {
  if (from > to) return;
  if (::close_range(from, to, 0) == 0) return;
  // close_range(2) needs Linux 5.9 and may be blocked by seccomp: close one by one.
  rlimit lim{};
  const unsigned max = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 65536
                           ? static_cast<unsigned>(lim.rlim_cur)
                           : 65536U;
  for (unsigned fd = from; fd <= to && fd < max; ++fd) ::close(static_cast<int>(fd));
}

/// Child-side setup run between fork and exec: closes every inherited descriptor except stdio
/// and Boost's exec-error pipe (Boost 1.81's own close_all leaves non-CLOEXEC descriptors that
/// taskrunner inherited open), own process group (so timeouts and signals reach every
/// descendant), default SIGPIPE (we ignore it in the parent; ignored dispositions survive
/// exec), empty signal mask; with `run_as`, the privileges dropped last (drop_privileges()).
struct ChildSetup {
  std::optional<Credentials> run_as;

  template <typename Launcher>
  boost::system::error_code on_exec_setup(Launcher& launcher, const bp::filesystem::path& /*exe*/,
                                          const char* const*& /*argv*/) {
    // No allocation between fork and exec (the parent may have threads): a fixed array.
    std::array<int, 16> keep{};
    const std::size_t n = std::min(keep.size(), launcher.fd_whitelist.size());
    std::copy_n(launcher.fd_whitelist.begin(), n, keep.begin());
    std::sort(keep.begin(), keep.begin() + static_cast<long>(n));
    unsigned next = 3;
    for (const int fd : std::span(keep.data(), n)) {
      if (fd < static_cast<int>(next)) continue;
      close_fds(next, static_cast<unsigned>(fd) - 1);
      next = static_cast<unsigned>(fd) + 1;
    }
    close_fds(next, ~0U);
    if (::setpgid(0, 0) != 0) return {errno, boost::system::system_category()};
    (void)::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (run_as) {
      if (const int err = drop_privileges(*run_as); err != 0) {
        return {err, boost::system::system_category()};
      }
    }
    return {};
  }
};

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int release() { return std::exchange(fd, -1); }
};

/// One output stream of the child: read chunks, write them to `target_fd` and the log file.
struct Stream {
  asio::readable_pipe pipe;
  int target_fd;
  std::array<char, 65536> buf{};
  bool open = true;
  std::uint64_t* counter;
  std::string partial;  ///< an incomplete last line, held back when lines are prefixed
  Stream(asio::io_context& ctx, int read_fd, int target, std::uint64_t* count)
      : pipe(ctx, read_fd), target_fd(target), counter(count) {}
};

/// Longest incomplete line held back for prefixing before it is written anyway (bytes).
constexpr std::size_t kMaxPartialLine = 65536;

/// `text` (whole lines) with `prefix` in front of every line.
std::string prefix_lines(std::string_view text, const std::string& prefix) {
  std::string out;
  out.reserve(text.size() + prefix.size() * 4);
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size() - 1;
    out += prefix;
    out.append(text.substr(start, nl - start + 1));
    start = nl + 1;
  }
  return out;
}

}  // namespace

/// One child process and everything streaming, timing and waiting for it. Shared by the
/// handlers queued on the io_context, so it outlives every one of them.
struct Job : std::enable_shared_from_this<Job> {
  Job(SystemProcessRunner& r, RunOptions o, bool bg, OnFinished done)
      : runner(r),
        options(std::move(o)),
        background(bg),
        on_finished(std::move(done)),
        drain_timer(r.supervisor().context()),
        deadline(r.supervisor().context()),
        grace_timer(r.supervisor().context()) {}

  SystemProcessRunner& runner;
  RunOptions options;
  bool background;
  OnFinished on_finished;
  RunResult result;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  pid_t pid = -1;
  std::optional<Stream> out;
  std::optional<Stream> err;
  asio::steady_timer drain_timer;
  asio::steady_timer deadline;
  asio::steady_timer grace_timer;
  bool exited = false;
  bool finished = false;
  char last_to_stderr = '\n';
  char last_to_log = '\n';

  void launch(const Command& command);
  void emit(Stream& s, const char* data, std::size_t n) {
    const int log_fd = report::log_file_fd();
    (void)util::write_all(s.target_fd, data, n);
    if (s.target_fd == STDERR_FILENO) last_to_stderr = data[n - 1];
    if (log_fd >= 0) {
      (void)util::write_all(log_fd, data, n);
      last_to_log = data[n - 1];
    }
  }
  void tee(Stream& s, const char* data, std::size_t n) {
    if (options.line_prefix.empty()) {
      emit(s, data, n);
      return;
    }
    s.partial.append(data, n);
    auto cut = s.partial.rfind('\n');
    if (cut == std::string::npos && s.partial.size() < kMaxPartialLine) return;
    if (cut == std::string::npos) {
      s.partial += '\n';
      cut = s.partial.size() - 1;
    }
    const auto text =
        prefix_lines(std::string_view(s.partial).substr(0, cut + 1), options.line_prefix);
    s.partial.erase(0, cut + 1);
    emit(s, text.data(), text.size());
  }
  void on_chunk(Stream& s, std::size_t n) {
    *s.counter += n;
    if (options.tee) tee(s, s.buf.data(), n);
    if (&s == &*out && result.captured_stdout.size() < options.capture_limit) {
      const auto room = options.capture_limit - result.captured_stdout.size();
      result.captured_stdout.append(s.buf.data(), std::min(room, n));
    }
    if (options.tail_limit > 0) {
      result.output_tail.append(s.buf.data(), n);
      if (result.output_tail.size() > 2 * options.tail_limit) {
        result.output_tail.erase(0, result.output_tail.size() - options.tail_limit);
      }
    }
  }
  void read_more(Stream& s) {
    s.pipe.async_read_some(asio::buffer(s.buf), [self = shared_from_this(), &s](
                                                    boost::system::error_code ec, std::size_t n) {
      if (n > 0) self->on_chunk(s, n);
      if (ec) {
        s.open = false;
        if (self->options.tee && !s.partial.empty()) {
          s.partial += '\n';
          self->tee(s, "", 0);
        }
        self->check_done();
        return;
      }
      self->read_more(s);
    });
  }
  void kill_group(int sig) const { ::kill(-pid, sig); }
  /// SIGTERM now, SIGKILL after the grace period unless it exited.
  void terminate_group() {
    kill_group(SIGTERM);
    grace_timer.expires_after(options.grace);
    grace_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && !self->exited) self->kill_group(SIGKILL);
    });
  }
  void arm_deadline() {
    if (!options.timeout) return;
    deadline.expires_after(*options.timeout);
    deadline.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->exited) return;
      self->result.timed_out = true;
      self->terminate_group();
    });
  }
  void on_exit(int raw_status) {
    if (exited) return;
    exited = true;
    result.raw_status = raw_status;
    result.exit_code = report::exit_code_from_wait_status(raw_status);
    if (out->open || err->open) {
      // Descendants may still hold the pipes: drain for a bounded time, then stop reading.
      drain_timer.expires_after(kDrainAfterExit);
      drain_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (ec) return;
        boost::system::error_code ignored;
        self->out->pipe.close(ignored);
        self->err->pipe.close(ignored);
      });
    }
    check_done();
  }
  void on_signal(int sig) {
    if (exited) return;
    if (options.forward_signals) {
      kill_group(sig);
      if (sig == SIGTERM) {
        grace_timer.expires_after(options.grace);
        grace_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
          if (!ec && !self->exited) self->kill_group(SIGKILL);
        });
      }
    } else if (is_terminating(sig) && result.interrupted_by == 0) {
      result.interrupted_by = sig;
      terminate_group();
    }
  }
  /// Once exited and drained: cancel timers, leave the active list, tell the owner.
  void check_done() {
    if (finished || !exited || out->open || err->open) return;
    finished = true;
    deadline.cancel();
    grace_timer.cancel();
    drain_timer.cancel();
    result.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    auto& active = runner.active();
    const auto self = shared_from_this();
    active.erase(std::remove(active.begin(), active.end(), self), active.end());
    // Queued signals stay queued for the next step (Supervisor::pending_termination).
    if (active.empty()) runner.supervisor().signals().cancel();
    if (on_finished) on_finished(result);
  }
  /// After finishing: leftovers of the step, newline fix-ups, bookkeeping.
  void finalize() {
    runner.supervisor().unwatch(pid);
    result.strays_killed =
        runner.supervisor().kill_strays(pid, std::min(options.grace, kStrayGrace));
    if (last_to_stderr != '\n') (void)util::write_all(STDERR_FILENO, "\n", 1);
    if (last_to_log != '\n') (void)util::write_all(report::log_file_fd(), "\n", 1);
    if (result.output_tail.size() > options.tail_limit) {
      result.output_tail.erase(0, result.output_tail.size() - options.tail_limit);
    }
  }
};

void Job::launch(const Command& command) {
  int out_p[2];
  int err_p[2];
  if (::pipe2(out_p, O_CLOEXEC) != 0) {
    result.start_error = util::errno_message("cannot create pipes for", command.executable, errno);
    return;
  }
  if (::pipe2(err_p, O_CLOEXEC) != 0) {
    result.start_error = util::errno_message("cannot create pipes for", command.executable, errno);
    ::close(out_p[0]);
    ::close(out_p[1]);
    return;
  }
  Fd out_w(out_p[1]);
  Fd err_w(err_p[1]);
  Fd in_fd(options.inherit_stdin ? -1 : ::open("/dev/null", O_RDONLY | O_CLOEXEC));

  asio::io_context& ctx = runner.supervisor().context();
  std::vector<std::string> envp = util::to_envp(command.env);
  const bp::filesystem::path start_dir = command.cwd ? command.cwd->string() : std::string(".");
  std::optional<bp::process> launched;
  try {
    launched.emplace(
        ctx.get_executor(), bp::filesystem::path(command.executable.string()), command.args,
        bp::process_stdio{options.inherit_stdin ? bp::detail::process_input_binding(STDIN_FILENO)
                                                : bp::detail::process_input_binding(in_fd.fd),
                          bp::detail::process_output_binding(out_w.fd),
                          bp::detail::process_error_binding(err_w.fd)},
        bp::process_environment(envp), bp::process_start_dir(start_dir),
        ChildSetup{command.run_as});
  } catch (const boost::system::system_error& e) {
    ::close(out_p[0]);
    ::close(err_p[0]);
    result.start_error = util::errno_message("cannot start", command.executable, e.code().value());
    return;
  }
  // Waiting is the Supervisor's (waitpid on SIGCHLD): release Boost's handle so it neither
  // waits nor terminates the child when it goes out of scope.
  pid = launched->id();
  launched->detach();
  launched.reset();
  runner.supervisor().watch(pid);
  result.started = true;
  out.emplace(ctx, out_p[0], options.stdout_to_stderr ? STDERR_FILENO : STDOUT_FILENO,
              &result.stdout_bytes);
  err.emplace(ctx, err_p[0], STDERR_FILENO, &result.stderr_bytes);
  // The child calls setpgid itself; doing it here too closes the race with an early kill().
  ::setpgid(pid, pid);
}

void SystemProcessRunner::arm_signals() {
  if (signals_armed_) return;
  signals_armed_ = true;
  supervisor_.signals().async_wait([this](boost::system::error_code ec, int sig) {
    signals_armed_ = false;
    if (ec) return;
    const auto jobs = active_;  // handlers may remove jobs from active_
    if (sig == SIGCHLD) {
      supervisor_.reap();
      for (const auto& j : jobs) {
        if (const auto status = supervisor_.status_of(j->pid)) j->on_exit(*status);
      }
    } else {
      for (const auto& j : jobs) j->on_signal(sig);
    }
    if (!active_.empty()) arm_signals();
  });
}

void SystemProcessRunner::drive(const std::function<bool()>& done) {
  asio::io_context& ctx = supervisor_.context();
  while (!done()) {
    if (!active_.empty()) {
      // Between steps, Supervisor::pending_termination() may have cancelled our signal wait and
      // reaped a background step: re-arm, and pick up statuses reaped elsewhere.
      arm_signals();
      for (const auto& j : std::vector(active_)) {
        if (const auto status = supervisor_.status_of(j->pid)) j->on_exit(*status);
      }
      if (done()) break;
    }
    if (ctx.run_one() == 0) {
      ctx.restart();
      if (ctx.poll() == 0 && !done()) break;  // nothing left that could finish it
    }
  }
  if (active_.empty()) {
    ctx.poll();  // completes the cancelled signal wait
    ctx.restart();
  }
}

namespace {

std::shared_ptr<Job> start_job(SystemProcessRunner& runner, const Command& command,
                               const RunOptions& options, bool background, OnFinished done) {
  auto job = std::make_shared<Job>(runner, options, background, std::move(done));
  runner.supervisor().context().restart();
  job->launch(command);
  if (!job->result.started) return job;
  runner.active().push_back(job);
  job->read_more(*job->out);
  job->read_more(*job->err);
  job->arm_deadline();
  runner.arm_signals();
  // The child may have exited before its SIGCHLD could be waited for.
  runner.supervisor().reap();
  if (const auto status = runner.supervisor().status_of(job->pid)) job->on_exit(*status);
  return job;
}

struct Background final : BackgroundRun {
  std::shared_ptr<Job> job;
  bool waited = false;
  explicit Background(std::shared_ptr<Job> j) : job(std::move(j)) {}
  ~Background() override {
    if (!waited) (void)stop();
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  [[nodiscard]] bool finished() const override { return !job->result.started || job->finished; }
  RunResult wait() override {
    if (!job->result.started || waited) return job->result;
    waited = true;
    job->runner.drive([&] { return job->finished; });
    job->finalize();
    return job->result;
  }
  RunResult stop() override {
    if (job->result.started && !job->exited) job->terminate_group();
    return wait();
  }
};

}  // namespace

RunResult SystemProcessRunner::run(const Command& command, const RunOptions& options) {
  auto job = start_job(*this, command, options, false, {});
  if (!job->result.started) return job->result;
  drive([&] { return job->finished; });
  job->finalize();
  return job->result;
}

std::unique_ptr<BackgroundRun> SystemProcessRunner::start(const Command& command,
                                                          const RunOptions& options,
                                                          const OnFinished& on_finished) {
  auto job = start_job(*this, command, options, true, on_finished);
  if (!job->result.started && on_finished) on_finished(job->result);
  return std::make_unique<Background>(std::move(job));
}

void SystemProcessRunner::cancel_running() {
  for (const auto& j : std::vector(active_)) {
    if (!j->background && !j->exited && !j->result.cancelled) {
      j->result.cancelled = true;
      j->terminate_group();
    }
  }
}

}  // namespace taskrunner::execution
