#include "taskrunner/execution/supervisor.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

using namespace taskrunner::execution;
using namespace std::chrono_literals;

TEST(Supervisor, BecomesSubreaperAndReapsOrphans) {
  Supervisor sup;
  ASSERT_FALSE(sup.pid1());
  EXPECT_TRUE(sup.subreaper());
  // A child that forks a grandchild and exits at once: the grandchild is reparented to us.
  const pid_t child = ::fork();
  if (child == 0) {
    if (::fork() == 0) {
      ::usleep(100 * 1000);
      ::_exit(0);
    }
    ::_exit(7);
  }
  std::optional<int> status;
  for (int i = 0; i < 200 && !status; ++i) {
    status = sup.reap(child);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(status);
  EXPECT_EQ(WEXITSTATUS(*status), 7);
  for (int i = 0; i < 200 && sup.orphans_reaped() == 0; ++i) {
    sup.reap();
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(sup.orphans_reaped(), 1U);
}

TEST(Supervisor, KillStraysEscalatesToSigkill) {
  Supervisor sup;
  const pid_t stubborn = ::fork();
  if (stubborn == 0) {
    ::setpgid(0, 0);
    (void)::signal(SIGTERM, SIG_IGN);
    for (;;) ::pause();
  }
  ::setpgid(stubborn, stubborn);
  std::this_thread::sleep_for(50ms);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_GE(sup.kill_strays(stubborn, 200ms), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_NE(::kill(stubborn, 0), 0);         // gone and reaped
  EXPECT_EQ(sup.kill_strays(-1, 200ms), 0);  // nothing left
}

TEST(Supervisor, QueuesTerminatingSignalsBetweenSteps) {
  Supervisor sup;
  EXPECT_EQ(sup.pending_termination(), 0);
  ::kill(::getpid(), SIGUSR1);  // forwarded kind, not terminating: dropped
  ::kill(::getpid(), SIGHUP);   // would kill the process without the supervisor
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(sup.pending_termination(), SIGHUP);
  EXPECT_EQ(sup.pending_termination(), 0);
  EXPECT_TRUE(is_terminating(SIGTERM));
  EXPECT_FALSE(is_terminating(SIGWINCH));
}
