#include "taskrunner/report/timeline.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "document.hpp"
#include "taskrunner/util/time.hpp"

namespace taskrunner::report {
namespace {

struct Row {
  std::string id;
  std::string status;
  long long start_ms = 0;  // from the run's start
  long long duration_ms = 0;
  std::string note;  // cache use
  std::string message;
  std::string hint;
};

struct Timeline {
  std::vector<Row> rows;
  long long total_ms = 0;
  std::optional<int> exit_code;
};

/// A duration or offset from a document, clamped to [0, 100 days] in ms: the file may be
/// foreign, and sums of huge values must not overflow.
long long clamp_ms(std::optional<double> v) {
  constexpr double kMaxMs = 100.0 * 24 * 3600 * 1000;
  if (!v || !std::isfinite(*v) || *v < 0) return 0;
  return static_cast<long long>(std::min(*v, kMaxMs));
}

util::Result<Timeline> load(const nlohmann::json& doc) {
  // Every field is read by type (report/document.hpp): a string where a number belongs threw
  // nlohmann's type_error out of `report` (found by tests/fuzz/fuzz_checkpoints).
  if (!doc.is_object() || !doc.contains("checkpoints") || !doc["checkpoints"].is_array() ||
      !doc.contains("started_at")) {
    return util::Status{"not a checkpoints.json document (see docs/checkpoint.schema.json)"};
  }
  const auto run_start = util::parse_rfc3339(fields::str(doc, "started_at"));
  if (!run_start) {
    return util::Status{"started_at is not an RFC 3339 time"};
  }
  Timeline t;
  for (const auto& c : doc["checkpoints"]) {
    if (!c.is_object()) continue;
    Row r;
    r.id = c.contains("id") && c["id"].is_string() ? fields::str(c, "id") : "?";
    r.status = c.contains("status") && c["status"].is_string() ? fields::str(c, "status") : "?";
    r.duration_ms = clamp_ms(fields::num(c, "duration_ms"));
    if (const auto s = util::parse_rfc3339(fields::str(c, "started_at"))) {
      r.start_ms = clamp_ms(static_cast<double>(
          std::chrono::duration_cast<std::chrono::milliseconds>(*s - *run_start).count()));
    }
    static const nlohmann::json kNoDetail = nlohmann::json::object();
    const auto& d = c.contains("detail") && c["detail"].is_object() ? c["detail"] : kNoDetail;
    if (d.contains("cache") && d["cache"].is_boolean()) {
      r.note = d["cache"].get<bool>() ? "cache on" : "no cache";
    }
    if (d.contains("hit") && d["hit"].is_boolean()) r.note = d["hit"].get<bool>() ? "hit" : "miss";
    if (d.contains("resolved_from_cache") && d["resolved_from_cache"].is_boolean()) {
      r.note = d["resolved_from_cache"].get<bool>() ? "interpreter cached" : "interpreter probed";
    }
    if (d.contains("reason") && d["reason"].is_string() && r.status == "skipped") {
      r.note = d["reason"].get<std::string>();
    }
    if (c.contains("error") && c["error"].is_object()) {
      r.message = fields::str(c["error"], "message");
      r.hint = fields::str(c["error"], "hint");
    }
    t.total_ms = std::max(t.total_ms, r.start_ms + r.duration_ms);
    t.rows.push_back(std::move(r));
  }
  if (doc.contains("exit_code") && doc["exit_code"].is_number_integer()) {
    t.exit_code = doc["exit_code"].get<int>();
  }
  return t;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') out += c;
    }
  }
  return out;
}

const char* colour(const std::string& status) {
  if (status == "ok") return "#2e7d32";
  if (status == "warn") return "#f9a825";
  if (status == "failed") return "#c62828";
  if (status == "timeout") return "#6a1b9a";
  if (status == "running") return "#1565c0";
  return "#9e9e9e";
}

}  // namespace

util::Result<std::string> render_timeline(const nlohmann::json& doc, std::size_t width) {
  const auto t = load(doc);
  if (!t) return t.status();
  const double scale =
      t->total_ms > 0 ? static_cast<double>(width) / static_cast<double>(t->total_ms) : 0;
  std::string out;
  char line[512];
  for (const auto& r : t->rows) {
    const auto offset = static_cast<std::size_t>(static_cast<double>(r.start_ms) * scale);
    auto len = static_cast<std::size_t>(std::llround(static_cast<double>(r.duration_ms) * scale));
    if (len == 0 && r.duration_ms > 0) len = 1;
    std::string bar(std::min(offset, width), ' ');
    for (std::size_t i = 0; i < len && bar.size() < width + 1; ++i) bar += "#";
    bar.resize(width + 1, ' ');
    (void)std::snprintf(line, sizeof line, "%-12s %-8s %8lld ms |%s| %s\n", r.id.c_str(),
                        r.status.c_str(), r.duration_ms, bar.c_str(), r.note.c_str());
    out += line;
    if (!r.message.empty()) out += "    " + r.message + "\n";
    if (!r.hint.empty()) out += "    hint: " + r.hint + "\n";
  }
  (void)std::snprintf(line, sizeof line, "total %lld ms", t->total_ms);
  out += line;
  out += t->exit_code ? ", exit code " + std::to_string(*t->exit_code) + "\n" : ", unfinished\n";
  return out;
}

util::Result<std::string> render_svg(const nlohmann::json& doc) {
  const auto t = load(doc);
  if (!t) return t.status();
  constexpr int kLabel = 130;
  constexpr int kBars = 560;
  constexpr int kRow = 24;
  const int height = static_cast<int>(t->rows.size()) * kRow + 50;
  const double scale =
      t->total_ms > 0 ? static_cast<double>(kBars) / static_cast<double>(t->total_ms) : 0;
  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    std::to_string(kLabel + kBars + 110) + "\" height=\"" + std::to_string(height) +
                    "\" font-family=\"monospace\" font-size=\"12\">\n"
                    "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  out += "<text x=\"8\" y=\"18\" font-weight=\"bold\">taskrunner run " +
         xml_escape(doc.value("run_id", "")) + ": " + std::to_string(t->total_ms) + " ms" +
         (t->exit_code ? ", exit code " + std::to_string(*t->exit_code) : std::string()) +
         "</text>\n";
  int y = 32;
  for (const auto& r : t->rows) {
    const int x = kLabel + static_cast<int>(static_cast<double>(r.start_ms) * scale);
    const int w = std::max(2, static_cast<int>(static_cast<double>(r.duration_ms) * scale));
    out += "<g><title>" +
           xml_escape(r.id + " " + r.status + " " + std::to_string(r.duration_ms) + " ms" +
                      (r.message.empty() ? "" : ": " + r.message) +
                      (r.hint.empty() ? "" : "\nhint: " + r.hint)) +
           "</title>\n";
    out += "<text x=\"8\" y=\"" + std::to_string(y + 14) + "\">" + xml_escape(r.id) + "</text>\n";
    out += "<rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y + 3) + "\" width=\"" +
           std::to_string(w) + "\" height=\"16\" fill=\"" + colour(r.status) + "\"/>\n";
    out += "<text x=\"" + std::to_string(x + w + 6) + "\" y=\"" + std::to_string(y + 15) + "\">" +
           xml_escape(r.status + " " + std::to_string(r.duration_ms) + " ms" +
                      (r.note.empty() ? "" : " (" + r.note + ")")) +
           "</text></g>\n";
    y += kRow;
  }
  out += "</svg>\n";
  return out;
}

}  // namespace taskrunner::report
