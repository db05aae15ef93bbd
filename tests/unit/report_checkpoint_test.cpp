#include "taskrunner/report/checkpoint.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "taskrunner/report/error.hpp"

using namespace taskrunner::report;
using nlohmann::json;

namespace {
struct Captured {
  std::vector<std::string> lines;
  Recorder::Emit emit() {
    return [this](const std::string& l) { lines.push_back(l); };
  }
};
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST(Checkpoint, IdsAndNamesInPipelineOrder) {
  std::vector<std::string> names;
  for (const Id id : kAllIds) names.emplace_back(name(id));
  EXPECT_EQ(names, (std::vector<std::string>{"spec", "runtime", "cache_mounts", "disk_space",
                                             "network", "uv", "nix", "system_deps", "venv",
                                             "python_deps", "user_code"}));
  EXPECT_EQ(seq(Id::spec), 1);
  EXPECT_EQ(seq(Id::user_code), 11);
}

TEST(Recorder, EmitsOneLinePerTransitionWithAllFields) {
  Captured cap;
  Recorder rec("run1", "wf", cap.emit());
  rec.start(Id::network);
  rec.finish(Id::network, Status::failed, {{"host", "h"}}, ErrorInfo{"no route", "fix it"});
  ASSERT_EQ(cap.lines.size(), 2U);
  const auto a = json::parse(cap.lines[0]);
  const auto b = json::parse(cap.lines[1]);
  EXPECT_EQ(a["status"], "running");
  EXPECT_EQ(b["status"], "failed");
  EXPECT_EQ(b["level"], "error");
  EXPECT_EQ(b["event"], "taskrunner.checkpoint");
  EXPECT_EQ(b["seq"], 5);
  EXPECT_EQ(b["of"], 11);
  EXPECT_EQ(b["id"], "network");
  EXPECT_EQ(b["error"]["message"], "no route");
  EXPECT_EQ(b["error"]["hint"], "fix it");
  EXPECT_EQ(b["detail"]["host"], "h");
  EXPECT_TRUE(b["time"].get<std::string>().ends_with("Z"));
  EXPECT_GE(b["duration_ms"].get<long>(), 0);
  // The first three keys are what log viewers show.
  EXPECT_EQ(cap.lines[1].rfind("{\"schema_version\":1,\"time\":", 0), 0U);
}

TEST(Recorder, EventLinesStayUnder4KiB) {
  Captured cap;
  Recorder rec("r", "wf", cap.emit());
  rec.start(Id::python_deps);
  rec.finish(Id::python_deps, Status::failed, {{"blob", std::string(10000, 'x')}},
             ErrorInfo{std::string(5000, 'm'), std::string(5000, 'h')});
  for (const auto& l : cap.lines) {
    EXPECT_LE(l.size(), kMaxEventBytes);
    EXPECT_TRUE(json::accept(l)) << l;
  }
  const auto last = json::parse(cap.lines.back());
  EXPECT_TRUE(last["detail"]["truncated"].get<bool>());
  // The full detail stays in the document.
  EXPECT_EQ(rec.find(Id::python_deps)->detail["blob"].get<std::string>().size(), 10000U);
}

TEST(Recorder, InvalidUtf8InDetailStillGivesValidJson) {
  Captured cap;
  Recorder rec("r", "wf", cap.emit());
  rec.finish(Id::user_code, Status::ok, {{"tail", std::string("\xff\xfe bad")}});
  EXPECT_TRUE(json::accept(cap.lines.back()));
}

TEST(Recorder, WritesTheFileWhenALongStepStartsOrOneFailsAndClosesTheRun) {
  const auto dir = std::filesystem::temp_directory_path() / "taskrunner-unit-recorder";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Captured cap;
  Recorder rec("run9", "wf", cap.emit());
  rec.start(Id::spec);
  rec.finish(Id::spec, Status::ok);
  rec.set_output(dir / "checkpoints.json");
  auto doc = json::parse(slurp(dir / "checkpoints.json"));
  ASSERT_EQ(doc["checkpoints"].size(), 1U);  // written at set_output
  rec.start(Id::runtime);                    // a quick step: no rewrite
  rec.finish(Id::runtime, Status::ok);
  rec.start(Id::venv);  // a long step: rewritten, with everything before it
  doc = json::parse(slurp(dir / "checkpoints.json"));
  ASSERT_EQ(doc["checkpoints"].size(), 3U);
  EXPECT_EQ(doc["checkpoints"][1]["status"], "ok");
  EXPECT_EQ(doc["checkpoints"][2]["status"], "running");
  EXPECT_FALSE(doc.contains("exit_code"));
  rec.finish(Id::venv, Status::failed, {}, ErrorInfo{"m", "h"});  // a failure: rewritten
  doc = json::parse(slurp(dir / "checkpoints.json"));
  EXPECT_EQ(doc["checkpoints"][2]["status"], "failed");
  EXPECT_EQ(doc["checkpoints"][2]["error"]["hint"], "h");
  rec.finish_run(125);
  doc = json::parse(slurp(dir / "checkpoints.json"));
  ASSERT_EQ(doc["checkpoints"].size(), 11U);
  EXPECT_EQ(doc["exit_code"], 125);
  EXPECT_EQ(doc["run_id"], "run9");
  EXPECT_EQ(doc["checkpoints"][10]["id"], "user_code");
  EXPECT_EQ(doc["checkpoints"][10]["status"], "skipped");
  EXPECT_EQ(doc["checkpoints"][10]["detail"]["reason"], "not reached");
  // No temp files left behind.
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
  std::filesystem::remove_all(dir);
}

TEST(Rfc3339, FormatsUtcWithMilliseconds) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  EXPECT_EQ(rfc3339_utc(t), "2023-11-14T22:13:20.123Z");
}

TEST(ExitCodes, MappedInOnePlace) {
  EXPECT_EQ(exit_code_for(FailureKind::timeout), 124);
  EXPECT_EQ(exit_code_for(FailureKind::failed), 125);
  EXPECT_EQ(exit_code_for(FailureKind::interpreter_missing), 127);
  EXPECT_EQ(exit_code_for(FailureKind::terminated), 143);
  EXPECT_EQ(status_for(FailureKind::timeout), Status::timeout);
  EXPECT_EQ(status_for(FailureKind::failed), Status::failed);
  EXPECT_EQ(exit_code_from_wait_status(3 << 8), 3);  // W_EXITCODE(3, 0)
  EXPECT_EQ(exit_code_from_wait_status(9), 137);     // killed by SIGKILL
  EXPECT_EQ(exit_code_from_wait_status(15), 143);
}
