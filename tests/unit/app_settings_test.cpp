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
