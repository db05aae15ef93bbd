#include "taskrunner/app/settings.hpp"

#include <gtest/gtest.h>

using namespace taskrunner::app;

TEST(Settings, Defaults) {
  const auto s = load_settings({});
  EXPECT_EQ(s.work_dir, "/tmp/taskrunner");
  EXPECT_EQ(s.uv_cache_dir, "/root/.cache/uv");
  EXPECT_EQ(s.tools_dir, "/root/.cache/uv/bin");
  EXPECT_EQ(s.workflow, "local");
  EXPECT_EQ(s.python, "python3");
  EXPECT_FALSE(s.code_timeout);
  EXPECT_EQ(s.install_timeout, std::chrono::minutes(30));
  if (!std::filesystem::exists("/mnt/results")) {
    EXPECT_EQ(s.results_dir, "/tmp/taskrunner/results");
  }
}

TEST(Settings, ParsesKnobsAndNamesBadOnes) {
  const auto s = load_settings({{"TASKRUNNER_WORK_DIR", "/w"},
                                {"UV_CACHE_DIR", "/c"},
                                {"TASKRUNNER_CODE_TIMEOUT", "2.5"},
                                {"TASKRUNNER_INSTALL_TIMEOUT", "60"},
                                {"TASKRUNNER_MIN_FREE_MB", "10"},
                                {"TASKRUNNER_RESULTS_DIR", "/r"},
                                {"ARGO_WORKFLOW_NAME", "wf-1"}});
  EXPECT_EQ(s.tools_dir, "/c/bin");
  EXPECT_EQ(s.code_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(s.install_timeout, std::chrono::seconds(60));
  EXPECT_EQ(s.min_free_bytes, 10U * 1024 * 1024);
  EXPECT_EQ(s.results_dir, "/r");
  for (const auto& [var, value] :
       std::vector<std::pair<std::string, std::string>>{{"TASKRUNNER_CODE_TIMEOUT", "soon"},
                                                        {"TASKRUNNER_INSTALL_TIMEOUT", "-1"},
                                                        {"TASKRUNNER_MIN_FREE_MB", "1e3"},
                                                        {"ARGO_WORKFLOW_NAME", "a/../b"}}) {
    try {
      (void)load_settings({{var, value}});
      ADD_FAILURE() << var;
    } catch (const SettingsError& e) {
      EXPECT_EQ(e.variable, var);
    }
  }
}

TEST(Settings, GraceDeadlineTraceAndExec) {
  auto s =
      load_settings({{"ARGO_TERMINATION_GRACE_PERIOD_SECONDS", "30"},
                     {"TASKRUNNER_GRACE_SECONDS", "5"},
                     {"ARGO_DEADLINE", "2030-01-01T00:00:00Z"},
                     {"ARGO_PROGRESS_FILE", "/p"},
                     {"TASKRUNNER_TERMINATION_LOG", "/t"},
                     {"TASKRUNNER_EXEC", "1"},
                     {"TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  EXPECT_EQ(s.grace, std::chrono::seconds(28));
  EXPECT_TRUE(s.deadline);
  EXPECT_EQ(s.progress_file, "/p");
  EXPECT_EQ(s.termination_log, "/t");
  EXPECT_TRUE(s.exec);
  const auto [trace, span] =
      trace_context({{"TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  EXPECT_EQ(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span, "00f067aa0ba902b7");
  s = load_settings({{"ARGO_TERMINATION_GRACE_PERIOD_SECONDS", "1"}, {"TRACEPARENT", "00-zz"}});
  EXPECT_EQ(s.grace, std::chrono::milliseconds(500));
  EXPECT_TRUE(trace_context({{"TRACEPARENT", "00-zz"}}).first.empty());
  EXPECT_THROW(load_settings({{"ARGO_DEADLINE", "soon"}}), SettingsError);
  EXPECT_THROW(load_settings({{"TASKRUNNER_EXEC", "maybe"}}), SettingsError);
}

TEST(Settings, NixpkgsPinMustBeAPathOrUrl) {
  using taskrunner::app::load_settings;
  using taskrunner::app::SettingsError;
  EXPECT_EQ(load_settings({{"TASKRUNNER_NIXPKGS", "/pins/nixpkgs"}}).nixpkgs, "/pins/nixpkgs");
  EXPECT_EQ(load_settings({{"TASKRUNNER_NIXPKGS", "https://example.org/n.tar.gz"}}).nixpkgs,
            "https://example.org/n.tar.gz");
  EXPECT_TRUE(load_settings({}).nixpkgs.empty());
  EXPECT_THROW(load_settings({{"TASKRUNNER_NIXPKGS", "nixpkgs-unstable"}}), SettingsError);
  EXPECT_THROW(load_settings({{"TASKRUNNER_NIX_ROOTS", "relative/roots"}}), SettingsError);
  EXPECT_EQ(*load_settings({{"TASKRUNNER_NIX_ROOTS", "/r"}}).nix_roots, "/r");
}
