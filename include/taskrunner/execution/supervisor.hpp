#pragma once
// Process-wide supervision state: one Asio context and one signal set for the whole run, child
// subreaper registration, and reaping. Modelled on tini: taskrunner is either PID 1 (local
// `docker run`) or a child subreaper (under Argo's emissary), and reaps every orphan.
#include <sys/types.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdint>
#include <map>
#include <optional>

namespace taskrunner::execution {

/// Signals passed on to the user code's process group (README "Process supervision").
inline constexpr std::array<int, 8> kForwardedSignals = {SIGTERM, SIGINT,  SIGHUP,   SIGQUIT,
                                                         SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

/// True for the signals that end a setup step (SIGTERM, SIGINT, SIGHUP, SIGQUIT).
bool is_terminating(int signal);

/// Owns the io_context every child runs on and a signal set registered for SIGCHLD and
/// kForwardedSignals for its whole lifetime, so no signal that arrives between two steps is lost
/// or takes its default action (Asio queues it until the next wait). Waiting is done here with
/// waitpid(-1) on SIGCHLD — never by Boost.Process (whose pidfd_open some seccomp profiles
/// forbid, and whose per-pid wait would race a reaper).
class Supervisor {
 public:
  /// Registers the signals and, unless this process is PID 1, makes it a child subreaper
  /// (prctl PR_SET_CHILD_SUBREAPER) so orphaned descendants are reparented to it.
  Supervisor();
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  boost::asio::io_context& context() { return ctx_; }
  boost::asio::signal_set& signals() { return signals_; }

  /// Reaps every child that has exited (waitpid(-1, WNOHANG)). Returns the raw wait status of
  /// `watched` if it was among them (or was reaped earlier while watch()ed); the statuses of
  /// other watch()ed pids are kept for status_of(); every other child counts as orphans_reaped().
  std::optional<int> reap(pid_t watched = -1);

  /// Marks `pid` (a running step's process, also its process group id) as ours: reap() keeps
  /// its status, kill_strays() leaves it and its process group alone.
  void watch(pid_t pid);
  /// Forgets `pid` (after its status was taken).
  void unwatch(pid_t pid);
  /// The raw wait status of watch()ed `pid` once reaped, else nullopt.
  [[nodiscard]] std::optional<int> status_of(pid_t pid) const;

  /// Kills what is left of a finished step: SIGTERM to process group `pgid` and to every
  /// remaining child of this process (reparented orphans) except watch()ed steps still running
  /// and their process groups, then after `grace` (ms) SIGKILL; reaps all.
  /// Returns how many processes had to be signalled.
  int kill_strays(pid_t pgid, std::chrono::milliseconds grace);

  /// Non-blocking: a terminating signal (SIGTERM, SIGINT, SIGHUP, SIGQUIT) received while no step
  /// was running, or 0. Other queued signals are dropped; SIGCHLD reaps.
  int pending_termination();

  [[nodiscard]] bool pid1() const { return pid1_; }
  [[nodiscard]] bool subreaper() const { return subreaper_; }
  [[nodiscard]] std::uint64_t orphans_reaped() const { return orphans_reaped_; }

 private:
  boost::asio::io_context ctx_;
  boost::asio::signal_set signals_;
  bool pid1_ = false;
  bool subreaper_ = false;
  std::uint64_t orphans_reaped_ = 0;
  std::map<pid_t, std::optional<int>> watched_;  ///< running steps → status once reaped
};

}  // namespace taskrunner::execution
