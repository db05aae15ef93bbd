#include "taskrunner/report/timeline.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using taskrunner::report::render_svg;
using taskrunner::report::render_timeline;

namespace {

nlohmann::json doc_with(nlohmann::json checkpoint) {
  return {{"run_id", "r"},
          {"started_at", "2026-12-02T01:48:20.441Z"},
          {"exit_code", 0},
          {"checkpoints", nlohmann::json::array({std::move(checkpoint)})}};
}

}  // namespace

TEST(Timeline, RendersARun) {
  const auto doc = doc_with({{"id", "venv"},
                             {"status", "ok"},
                             {"duration_ms", 1200},
                             {"started_at", "2026-12-02T01:48:20.441Z"},
                             {"detail", {{"hit", true}}}});
  const auto text = render_timeline(doc);
  ASSERT_TRUE(text) << text.error();
  EXPECT_NE(text->find("venv"), std::string::npos) << *text;
  EXPECT_NE(text->find("hit"), std::string::npos) << *text;
  EXPECT_TRUE(render_svg(doc));
}

// Found by tests/fuzz/fuzz_checkpoints (corpus/fuzz_checkpoints/regression-string-duration):
// json::value() throws type_error when the stored value has another type, which aborted
// `taskrunner report` on a foreign or edited checkpoints.json.
TEST(Timeline, FieldsOfTheWrongTypeAreIgnoredNotThrown) {
  for (const auto& bad : {nlohmann::json{{"id", 7}, {"status", nullptr}, {"duration_ms", "nix"}},
                          nlohmann::json{{"id", "venv"}, {"detail", "x"}, {"error", {{"hint", 1}}}},
                          nlohmann::json{{"id", "venv"}, {"duration_ms", 1e300}},
                          nlohmann::json{{"id", "venv"}, {"duration_ms", -5}, {"started_at", 3}}}) {
    const auto doc = doc_with(bad);
    EXPECT_NO_THROW({
      const auto text = render_timeline(doc);
      EXPECT_TRUE(text) << bad.dump();
      (void)render_svg(doc);
    }) << bad.dump();
  }
  auto doc = doc_with({{"id", "spec"}});
  doc["started_at"] = 12;
  EXPECT_FALSE(render_timeline(doc));
}
