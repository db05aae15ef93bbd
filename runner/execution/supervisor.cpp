#include "taskrunner/execution/supervisor.hpp"

#include <dirent.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "taskrunner/util/fs.hpp"

namespace taskrunner::execution {

bool is_terminating(int signal) {
  return signal == SIGTERM || signal == SIGINT || signal == SIGHUP || signal == SIGQUIT;
}

Supervisor::Supervisor() : signals_(ctx_, SIGCHLD) {
  for (const int s : kForwardedSignals) signals_.add(s);
  pid1_ = ::getpid() == 1;
  if (!pid1_) subreaper_ = ::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
}

Supervisor::~Supervisor() {
  boost::system::error_code ignored;
  signals_.clear(ignored);
}

std::optional<int> Supervisor::reap(pid_t watched) {
  std::optional<int> result;
  for (;;) {
    int status = 0;
    const pid_t p = ::waitpid(-1, &status, WNOHANG);
    if (p > 0) {
      if (p == watched) {
        result = status;
      } else if (auto it = watched_.find(p); it != watched_.end()) {
        it->second = status;
      } else {
        ++orphans_reaped_;
      }
      continue;
    }
    if (p < 0 && errno == EINTR) continue;
    if (!result && watched > 0) result = status_of(watched);
    return result;  // 0: children left but none exited; -1/ECHILD: no children
  }
}

void Supervisor::watch(pid_t pid) { watched_.try_emplace(pid); }

void Supervisor::unwatch(pid_t pid) { watched_.erase(pid); }

std::optional<int> Supervisor::status_of(pid_t pid) const {
  const auto it = watched_.find(pid);
  return it == watched_.end() ? std::nullopt : it->second;
}

namespace {

/// Pids whose parent is this process (from /proc/<pid>/stat field 4).
std::vector<pid_t> own_children() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  const pid_t self = ::getpid();
  while (const dirent* e = ::readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10));
    if (pid <= 0) continue;
    const auto stat = util::read_file("/proc/" + std::string(e->d_name) + "/stat", 4096);
    if (!stat) continue;
    const auto close = stat->rfind(')');  // comm may contain spaces and parentheses
    if (close == std::string::npos || close + 4 >= stat->size()) continue;
    const char state = (*stat)[close + 2];
    const long ppid = std::strtol(stat->c_str() + close + 4, nullptr, 10);
    if (ppid == self && state != 'Z') out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

bool has_children() {
  siginfo_t info{};
  // WNOWAIT: look without reaping. ECHILD means none at all.
  return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

}  // namespace

int Supervisor::kill_strays(pid_t pgid, std::chrono::milliseconds grace) {
  // Steps still running (a background step) and their process groups are not strays.
  const auto strays = [&] {
    std::vector<pid_t> out;
    // No child at all (none alive, none to reap): nothing to look for in /proc.
    if (!has_children()) return out;
    for (const pid_t p : own_children()) {
      const pid_t group = ::getpgid(p);
      if (watched_.count(p) == 0 && (group == pgid || watched_.count(group) == 0)) {
        out.push_back(p);
      }
    }
    return out;
  };
  const auto others_running = [&] {
    return std::any_of(watched_.begin(), watched_.end(),
                       [&](const auto& w) { return w.first != pgid && !w.second; });
  };
  int signalled = 0;
  if (pgid > 0 && ::kill(-pgid, SIGTERM) == 0) ++signalled;
  for (const pid_t p : strays()) {
    if (::kill(p, SIGTERM) == 0) ++signalled;
  }
  if (signalled == 0) {
    reap();
    return 0;
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    reap();
    const bool group_alive = pgid > 0 && ::kill(-pgid, 0) == 0;
    if (!group_alive && (others_running() ? strays().empty() : !has_children())) {
      return signalled;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (pgid > 0) ::kill(-pgid, SIGKILL);
  for (const pid_t p : strays()) ::kill(p, SIGKILL);
  for (int i = 0; i < 50 && (others_running() ? !strays().empty() : has_children()); ++i) {
    reap();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  reap();
  return signalled;
}

int Supervisor::pending_termination() {
  int found = 0;
  std::function<void()> arm = [&] {
    signals_.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGCHLD) {
        reap();
      } else if (is_terminating(sig) && found == 0) {
        found = sig;
      }
      arm();
    });
  };
  arm();
  ctx_.restart();
  ctx_.poll();
  signals_.cancel();
  ctx_.poll();
  ctx_.restart();
  return found;
}

}  // namespace taskrunner::execution
