#include "taskrunner/report/summary.hpp"

#include <gtest/gtest.h>

#include "testutil.hpp"

using namespace taskrunner::report;

namespace {
nlohmann::json run(int venv_ms, const char* cache, const char* deps_status = "ok") {
  nlohmann::json venv = {{"id", "venv"},
                         {"status", "ok"},
                         {"duration_ms", venv_ms},
                         {"detail", {{"env_cache", {{"result", cache}, {"mode", "inplace"}}}}}};
  nlohmann::json deps = {{"id", "python_deps"},
                         {"status", deps_status},
                         {"duration_ms", 1},
                         {"detail", {{"failure", "unknown_package"}}},
                         {"error", {{"message", "m"}, {"hint", "check the name"}}}};
  return {{"run_id", "0123456789abcdef"},
          {"started_at", "2026-12-01T10:00:00.000Z"},
          {"exit_code", std::string(deps_status) == "ok" ? 0 : 125},
          {"checkpoints", {venv, deps}}};
}
}  // namespace

TEST(Summary, NearestRankPercentilesRatesAndFailures) {
  Summary s;
  for (int ms = 1; ms <= 20; ++ms) EXPECT_TRUE(s.add(run(ms, ms <= 15 ? "hit" : "miss")));
  EXPECT_TRUE(s.add(run(100, "rebuilt", "failed")));
  EXPECT_FALSE(s.add(nlohmann::json{{"checkpoints", 1}}));
  s.add_unreadable();
  const auto j = s.to_json();
  EXPECT_EQ(j["runs"], 21);
  EXPECT_EQ(j["skipped"]["foreign"], 1);
  EXPECT_EQ(j["skipped"]["unreadable"], 1);
  // 21 values 1..20, 100: p50 = 11th = 11, p95 = ceil(19.95) = 20th = 20, max 100.
  EXPECT_EQ(j["checkpoints"]["venv"]["p50_ms"], 11.0);
  EXPECT_EQ(j["checkpoints"]["venv"]["p95_ms"], 20.0);
  EXPECT_EQ(j["checkpoints"]["venv"]["max_ms"], 100.0);
  EXPECT_DOUBLE_EQ(j["env_cache"]["hit_rate"].get<double>(), 15.0 / 21.0);
  EXPECT_TRUE(j["nix"]["hit_rate"].is_null());
  ASSERT_EQ(j["failures"].size(), 1U);
  EXPECT_EQ(j["failures"][0]["kind"], "unknown_package");
  EXPECT_EQ(j["failures"][0]["hint"], "check the name");
  EXPECT_EQ(j["exit_codes"]["125"], 1);
  EXPECT_NE(s.to_text().find("hit rate 71.4 %"), std::string::npos) << s.to_text();
}

TEST(Summary, ReadsDirectoriesAndCountsWhatItSkips) {
  testutil::TempDir t;
  testutil::write_file(t / "a/checkpoints.json", run(5, "hit").dump());
  testutil::write_file(t / "b/c/checkpoints.json", run(7, "miss").dump());
  testutil::write_file(t / "d/checkpoints.json", "{not json");
  testutil::write_file(t / "d/other.json", "{}");  // not named checkpoints.json: not read
  Summary s;
  s.add_paths({t.path, t / "missing"});
  const auto j = s.to_json();
  EXPECT_EQ(j["runs"], 2);
  EXPECT_EQ(j["skipped"]["unreadable"], 2);  // the broken file and the missing directory
}
