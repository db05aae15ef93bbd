#include "taskrunner/execution/exec_mode.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>

#include "taskrunner/util/fs.hpp"

namespace taskrunner::execution {
namespace {

/// The shipper's loop: copy both pipes to their targets and the log until both are closed.
[[noreturn]] void ship(int out_r, int err_r, int log_fd) {
  for (const int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE}) (void)::signal(s, SIG_IGN);
  std::array<pollfd, 2> fds{pollfd{out_r, POLLIN, 0}, pollfd{err_r, POLLIN, 0}};
  const std::array<int, 2> targets{STDOUT_FILENO, STDERR_FILENO};
  std::array<char, 65536> buf{};
  int open_streams = 2;
  while (open_streams > 0) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
      if (n > 0) {
        (void)util::write_all(targets[i], buf.data(), static_cast<std::size_t>(n));
        if (log_fd >= 0) (void)util::write_all(log_fd, buf.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_streams;
      }
    }
  }
  ::_exit(0);
}

}  // namespace

std::string exec_replacing_self(const Command& command, int log_fd) {
  int out_p[2];
  int err_p[2];
  if (::pipe2(out_p, O_CLOEXEC) != 0 || ::pipe2(err_p, O_CLOEXEC) != 0) {
    return util::errno_message("cannot create pipes for", command.executable, errno);
  }
  // The shipper must not become Python's child (Python code may wait() for any child), nor be
  // reparented to the process that becomes Python: stop being a subreaper, then double-fork.
  (void)::prctl(PR_SET_CHILD_SUBREAPER, 0);
  const pid_t middle = ::fork();
  if (middle < 0)
    return util::errno_message("cannot fork a log shipper for", command.executable, errno);
  if (middle == 0) {
    if (::fork() == 0) {
      ::close(out_p[1]);
      ::close(err_p[1]);
      ship(out_p[0], err_p[0], log_fd);
    }
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  ::close(out_p[0]);
  ::close(err_p[0]);
  if (::dup2(out_p[1], STDOUT_FILENO) < 0 || ::dup2(err_p[1], STDERR_FILENO) < 0) {
    return util::errno_message("cannot redirect output for", command.executable, errno);
  }
  ::close(out_p[1]);
  ::close(err_p[1]);

  std::vector<std::string> envp_s = util::to_envp(command.env);
  std::vector<char*> envp;
  envp.reserve(envp_s.size() + 1);
  for (auto& e : envp_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string exe = command.executable.string();
  std::vector<std::string> argv_s{exe};
  argv_s.insert(argv_s.end(), command.args.begin(), command.args.end());
  std::vector<char*> argv;
  argv.reserve(argv_s.size() + 1);
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Whatever is still open beyond stdio (e.g. Asio's signal pipe) must not reach Python.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < 4096; ++fd) (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  (void)::signal(SIGPIPE, SIG_DFL);
  if (command.run_as) {
    if (const int err = drop_privileges(*command.run_as); err != 0) {
      return util::errno_message("cannot drop privileges to " + to_string(*command.run_as) + " for",
                                 command.executable, err);
    }
  }
  ::execve(exe.c_str(), argv.data(), envp.data());
  const int err = errno;
  // Output now goes through the shipper; report there.
  return util::errno_message("cannot exec", command.executable, err);
}

}  // namespace taskrunner::execution
