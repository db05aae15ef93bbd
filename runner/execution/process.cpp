#include "taskrunner/execution/process.hpp"

#include "taskrunner/execution/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
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
/// exec), empty signal mask.
struct ChildSetup {
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
  Stream(asio::io_context& ctx, int read_fd, int target, std::uint64_t* count)
      : pipe(ctx, read_fd), target_fd(target), counter(count) {}
};

}  // namespace

std::optional<std::filesystem::path> find_on_path(const std::string& name,
                                                  const std::string& path_var) {
  const auto executable = [](const std::filesystem::path& p) {
    struct stat st {};
    // Mode bits as well as access(2): for root, access(X_OK) alone accepts any regular file.
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0 &&
           ::access(p.c_str(), X_OK) == 0;
  };
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (executable(name)) return std::filesystem::path(name);
    return std::nullopt;
  }
  std::size_t start = 0;
  while (start <= path_var.size()) {
    auto end = path_var.find(':', start);
    if (end == std::string::npos) end = path_var.size();
    const std::string dir = path_var.substr(start, end - start);
    const auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
    if (executable(candidate)) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

RunResult run_probe(ProcessRunner& runner, const Command& command, std::size_t capture_limit,
                    std::chrono::milliseconds timeout) {
  RunOptions opts;
  opts.tee = false;
  opts.capture_limit = capture_limit;
  opts.timeout = timeout;
  opts.grace = std::chrono::seconds(1);
  return runner.run(command, opts);
}

RunResult SystemProcessRunner::run(const Command& command, const RunOptions& options) {
  RunResult result;
  const auto t0 = std::chrono::steady_clock::now();

  int out_p[2];
  int err_p[2];
  if (::pipe2(out_p, O_CLOEXEC) != 0 || ::pipe2(err_p, O_CLOEXEC) != 0) {
    result.start_error = util::errno_message("cannot create pipes for", command.executable, errno);
    return result;
  }
  Fd out_w(out_p[1]);
  Fd err_w(err_p[1]);
  Fd in_fd(options.inherit_stdin ? -1 : ::open("/dev/null", O_RDONLY | O_CLOEXEC));

  asio::io_context& ctx = supervisor_.context();
  ctx.restart();

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
        bp::process_environment(envp), bp::process_start_dir(start_dir), ChildSetup{});
  } catch (const boost::system::system_error& e) {
    ::close(out_p[0]);
    ::close(err_p[0]);
    result.start_error = util::errno_message("cannot start", command.executable, e.code().value());
    return result;
  }
  // Waiting is the Supervisor's (waitpid on SIGCHLD): release Boost's handle so it neither
  // waits nor terminates the child when it goes out of scope.
  const int pid = launched->id();
  launched->detach();
  launched.reset();
  out_w.reset();
  err_w.reset();
  in_fd.reset();
  result.started = true;
  Stream out(ctx, out_p[0], options.stdout_to_stderr ? STDERR_FILENO : STDOUT_FILENO,
             &result.stdout_bytes);
  Stream err(ctx, err_p[0], STDERR_FILENO, &result.stderr_bytes);
  // The child calls setpgid itself; doing it here too closes the race with an early kill().
  ::setpgid(pid, pid);

  const int log_fd = report::log_file_fd();
  char last_to_stderr = '\n';
  char last_to_log = '\n';
  const auto on_chunk = [&](Stream& s, std::size_t n) {
    *s.counter += n;
    if (options.tee) {
      (void)util::write_all(s.target_fd, s.buf.data(), n);
      if (s.target_fd == STDERR_FILENO) last_to_stderr = s.buf[n - 1];
      if (log_fd >= 0) {
        (void)util::write_all(log_fd, s.buf.data(), n);
        last_to_log = s.buf[n - 1];
      }
    }
    if (&s == &out && result.captured_stdout.size() < options.capture_limit) {
      const auto room = options.capture_limit - result.captured_stdout.size();
      result.captured_stdout.append(s.buf.data(), std::min(room, n));
    }
    if (options.tail_limit > 0) {
      result.output_tail.append(s.buf.data(), n);
      if (result.output_tail.size() > 2 * options.tail_limit) {
        result.output_tail.erase(0, result.output_tail.size() - options.tail_limit);
      }
    }
  };

  bool exited = false;
  asio::steady_timer drain_timer(ctx);
  asio::steady_timer deadline(ctx);
  asio::steady_timer grace_timer(ctx);
  asio::signal_set& signals = supervisor_.signals();
  const auto finish_if_done = [&] {
    if (exited && !out.open && !err.open) {
      deadline.cancel();
      grace_timer.cancel();
      drain_timer.cancel();
      signals.cancel();  // queued signals stay queued for the next step
    }
  };
  std::function<void(Stream&)> read_more = [&](Stream& s) {
    s.pipe.async_read_some(asio::buffer(s.buf), [&](boost::system::error_code rec, std::size_t n) {
      if (n > 0) on_chunk(s, n);
      if (rec) {
        s.open = false;
        finish_if_done();
        return;
      }
      read_more(s);
    });
  };
  read_more(out);
  read_more(err);

  const auto kill_group = [&](int sig) { ::kill(-pid, sig); };
  const auto terminate_group = [&] {
    kill_group(SIGTERM);
    grace_timer.expires_after(options.grace);
    grace_timer.async_wait([&](boost::system::error_code tec) {
      if (!tec) kill_group(SIGKILL);
    });
  };

  if (options.timeout) {
    deadline.expires_after(*options.timeout);
    deadline.async_wait([&](boost::system::error_code tec) {
      if (tec || exited) return;
      result.timed_out = true;
      terminate_group();
    });
  }

  const auto on_exit = [&](int raw_status) {
    exited = true;
    result.raw_status = raw_status;
    finish_if_done();
    if (out.open || err.open) {
      // Descendants may still hold the pipes: drain for a bounded time, then stop reading.
      drain_timer.expires_after(kDrainAfterExit);
      drain_timer.async_wait([&](boost::system::error_code dec) {
        if (dec) return;
        boost::system::error_code ignored;
        out.pipe.close(ignored);
        err.pipe.close(ignored);
      });
    }
  };

  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code sec, int sig) {
      if (sec) return;
      if (sig == SIGCHLD) {
        if (!exited) {
          if (const auto status = supervisor_.reap(pid)) on_exit(*status);
        } else {
          supervisor_.reap();
        }
      } else if (exited) {
        // The step is over; nothing to pass the signal to.
      } else if (options.forward_signals) {
        kill_group(sig);
        if (sig == SIGTERM) {
          grace_timer.expires_after(options.grace);
          grace_timer.async_wait([&](boost::system::error_code tec) {
            if (!tec && !exited) kill_group(SIGKILL);
          });
        }
      } else if (is_terminating(sig) && result.interrupted_by == 0) {
        result.interrupted_by = sig;
        terminate_group();
      }
      if (!(exited && !out.open && !err.open)) wait_signal();
    });
  };
  wait_signal();
  // The child may have exited before its SIGCHLD could be waited for.
  if (const auto status = supervisor_.reap(pid)) on_exit(*status);

  ctx.run();
  ctx.restart();
  result.strays_killed = supervisor_.kill_strays(pid, std::min(options.grace, kStrayGrace));
  if (last_to_stderr != '\n') (void)util::write_all(STDERR_FILENO, "\n", 1);
  if (last_to_log != '\n') (void)util::write_all(log_fd, "\n", 1);
  result.exit_code = report::exit_code_from_wait_status(result.raw_status);
  result.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  if (result.output_tail.size() > options.tail_limit) {
    result.output_tail.erase(0, result.output_tail.size() - options.tail_limit);
  }
  return result;
}

}  // namespace taskrunner::execution
