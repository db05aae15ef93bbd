#include "taskrunner/report/termination.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace taskrunner::report;

TEST(TerminationMessage, NamesTheFailedCheckpointAndFits1KiB) {
  Recorder rec("r", "wf", [](const std::string&) {});
  rec.finish(Id::spec, Status::ok);
  rec.finish(
      Id::python_deps, Status::failed, {},
      ErrorInfo{"package 'x' was not found " + std::string(3000, 'm'), std::string(3000, 'h')});
  const auto msg = termination_message(rec, 125);
  EXPECT_LE(msg.size(), kMaxTerminationBytes);
  const auto j = nlohmann::json::parse(msg);
  EXPECT_EQ(j["exit_code"], 125);
  EXPECT_EQ(j["checkpoint"], "python_deps");
  EXPECT_EQ(j["status"], "failed");
  EXPECT_TRUE(j["message"].get<std::string>().starts_with("package 'x' was not found"));
  EXPECT_TRUE(j["hint"].get<std::string>().ends_with("..."));
}

TEST(TerminationMessage, EscapingHeavyTextStillFits) {
  Recorder rec("r", "wf", [](const std::string&) {});
  rec.finish(Id::user_code, Status::timeout, {},
             ErrorInfo{std::string(2000, '"'), std::string(2000, '\x01')});
  const auto msg = termination_message(rec, 124);
  EXPECT_LE(msg.size(), kMaxTerminationBytes);
  EXPECT_TRUE(nlohmann::json::accept(msg));
}

TEST(TerminationMessage, WithoutAFailedCheckpoint) {
  Recorder rec("r", "wf", [](const std::string&) {});
  const auto j = nlohmann::json::parse(termination_message(rec, 3));
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_FALSE(j.contains("checkpoint"));
}

TEST(TerminationMessage, WritesTheFile) {
  const auto p = std::filesystem::temp_directory_path() / "taskrunner-unit-termination-log";
  ASSERT_TRUE(write_termination_message(p, "{\"a\":1}").ok());
  ASSERT_TRUE(write_termination_message(p, "{}").ok());  // truncates
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "{}");
  std::filesystem::remove(p);
  EXPECT_FALSE(write_termination_message("/nonexistent/dir/log", "{}").ok());
}

TEST(Recorder, ProgressFileAndTraceContext) {
  const auto dir = std::filesystem::temp_directory_path() / "taskrunner-unit-progress";
  std::filesystem::create_directories(dir);
  std::vector<std::string> lines;
  Recorder rec("r", "wf", [&](const std::string& l) { lines.push_back(l); });
  rec.set_trace("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
  rec.set_progress_file(dir / "progress");
  rec.start(Id::spec);
  rec.finish(Id::spec, Status::ok);
  rec.start(Id::runtime);
  rec.finish(Id::runtime, Status::ok);
  std::ifstream in(dir / "progress");
  std::string progress;
  std::getline(in, progress);
  EXPECT_EQ(progress, "2/11");
  for (const auto& l : lines) {
    const auto j = nlohmann::json::parse(l);
    EXPECT_EQ(j["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(j["span_id"], "00f067aa0ba902b7");
  }
  EXPECT_EQ(rec.document()["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  std::filesystem::remove_all(dir);
}
