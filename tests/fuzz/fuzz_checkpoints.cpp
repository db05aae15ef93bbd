// Fuzz target: what `taskrunner report` reads — a checkpoints.json document rendered as a
// timeline and an SVG (report/timeline.hpp), and added to a `report --summary`
// (report/summary.hpp). The file may be anything: none of these may throw.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "taskrunner/report/summary.hpp"
#include "taskrunner/report/timeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace report = taskrunner::report;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  (void)report::render_timeline(doc);
  (void)report::render_svg(doc);
  report::Summary summary;
  summary.add(doc);
  summary.add(doc);
  (void)summary.to_json().dump();
  (void)summary.to_text();
  return 0;
}
