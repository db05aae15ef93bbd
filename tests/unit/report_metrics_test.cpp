#include "taskrunner/report/metrics.hpp"

#include <gtest/gtest.h>

#include "taskrunner/report/pushgateway.hpp"

using namespace taskrunner::report;

namespace {
nlohmann::json doc() {
  return nlohmann::json::parse(R"({
    "schema_version": 1, "run_id": "0123456789abcdef", "workflow": "wf",
    "started_at": "2026-12-01T10:00:00.000Z", "finished_at": "2026-12-01T10:00:02.500Z",
    "exit_code": 0, "of": 11,
    "checkpoints": [
      {"id": "uv", "seq": 6, "status": "ok", "started_at": "2026-12-01T10:00:00.010Z",
       "duration_ms": 5, "detail": {"installer": "uv"}},
      {"id": "venv", "seq": 9, "status": "ok", "started_at": "2026-12-01T10:00:00.020Z",
       "duration_ms": 70, "detail": {"env_cache": {"result": "hit", "mode": "snapshot\"x",
       "key": "abc", "bytes_restored": 1234}}},
      {"id": "python_deps", "seq": 10, "status": "skipped", "started_at": "2026-12-01T10:00:00.090Z",
       "ended_at": "2026-12-01T10:00:00.100Z", "duration_ms": 0, "detail": {}},
      {"id": "user_code", "seq": 11, "status": "ok", "started_at": "2026-12-01T10:00:00.250Z",
       "duration_ms": 2250, "detail": {}}
    ]})");
}

bool has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}
}  // namespace

TEST(Metrics, SeriesFromTheDocument) {
  const auto m = render_metrics(doc());
  EXPECT_TRUE(has(m, R"(taskrunner_checkpoint_duration_seconds{checkpoint="venv"} 0.07)")) << m;
  EXPECT_TRUE(
      has(m, R"(taskrunner_checkpoint_status{checkpoint="python_deps",status="skipped"} 1)"));
  EXPECT_TRUE(has(m, R"(taskrunner_env_cache_result{result="hit",mode="snapshot\"x"} 1)"));
  EXPECT_TRUE(has(m, "taskrunner_env_cache_restored_bytes 1234"));
  EXPECT_TRUE(has(m, R"(taskrunner_installer_info{installer="uv"} 1)"));
  EXPECT_TRUE(has(m, "taskrunner_time_to_user_code_seconds 0.25"));
  EXPECT_TRUE(has(m, "taskrunner_setup_seconds 0.1"));
  EXPECT_TRUE(has(m, "taskrunner_run_duration_seconds 2.5"));
  EXPECT_TRUE(has(m, "taskrunner_exit_code 0"));
  EXPECT_EQ(m.find("abc"), std::string::npos);  // the key is not a label
  EXPECT_EQ(m.find("nix_env"), std::string::npos);
  // Every family is announced once, as a gauge.
  EXPECT_NE(m.find("# TYPE taskrunner_exit_code gauge\n"), std::string::npos);
}

TEST(Metrics, MalformedDocumentsNeverThrow) {
  EXPECT_EQ(render_metrics(nlohmann::json::array()), "");
  auto d = doc();
  d["checkpoints"][1]["detail"] = "not an object";
  d["started_at"] = 5;
  d.erase("finished_at");
  const auto m = render_metrics(d);
  EXPECT_EQ(m.find("env_cache_result"), std::string::npos);
  EXPECT_EQ(m.find("time_to_user_code"), std::string::npos);
  EXPECT_EQ(m.find("run_duration"), std::string::npos);
}

TEST(Pushgateway, GroupPathEncodesEveryValue) {
  // base64url without padding; an empty value is "=" (the Pushgateway's README).
  EXPECT_EQ(pushgateway_group_path({{"job", "taskrunner"}, {"template", "a/b?"}, {"workflow", ""}}),
            "metrics/job@base64/dGFza3J1bm5lcg/template@base64/YS9iPw/workflow@base64/=");
}

TEST(Pushgateway, RefusesHttpsAndBadUrls) {
  using namespace std::chrono_literals;
  EXPECT_NE(push_metrics("https://h:1", {{"job", "x"}}, "", 100ms).error.find("only http://"),
            std::string::npos);
  EXPECT_FALSE(push_metrics("not a url", {{"job", "x"}}, "", 100ms).ok());
}
