#include "taskrunner/report/metrics.hpp"

#include <array>
#include <charconv>
#include <chrono>
#include <optional>
#include <vector>

#include "document.hpp"
#include "taskrunner/util/time.hpp"

namespace taskrunner::report {
namespace {

using fields::find;
using fields::seconds_between;
using fields::str;

using Labels = std::vector<std::pair<std::string, std::string>>;

/// A label value with `\`, `"` and newlines escaped, as the text format requires.
std::string escape(const std::string& v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

/// The shortest text that reads back as `v` (0.07, not 0.070000000000000007).
std::string number(double v) {
  std::array<char, 64> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return {buf.data(), r.ptr};
}

/// Accumulates families: HELP and TYPE once, then every sample of that family.
class Writer {
 public:
  void family(const char* name, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
  }
  void sample(const char* name, const Labels& labels, double value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += "{";
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i != 0) out_ += ",";
        out_ += labels[i].first + "=\"" + escape(labels[i].second) + "\"";
      }
      out_ += "}";
    }
    out_ += " " + number(value) + "\n";
  }
  void single(const char* name, const char* help, double value) {
    family(name, help);
    sample(name, {}, value);
  }
  [[nodiscard]] const std::string& text() const { return out_; }

 private:
  std::string out_;
};

}  // namespace

std::string render_metrics(const nlohmann::json& doc) {
  Writer w;
  if (!doc.is_object()) return w.text();
  std::vector<const nlohmann::json*> records;
  if (doc.contains("checkpoints") && doc["checkpoints"].is_array()) {
    for (const auto& c : doc["checkpoints"]) {
      if (c.is_object() && !str(c, "id").empty()) records.push_back(&c);
    }
  }
  w.family("taskrunner_checkpoint_duration_seconds", "Duration of each checkpoint of the run.");
  for (const auto* c : records) {
    if ((*c).contains("duration_ms") && (*c)["duration_ms"].is_number()) {
      w.sample("taskrunner_checkpoint_duration_seconds", {{"checkpoint", str(*c, "id")}},
               (*c)["duration_ms"].get<double>() / 1000.0);
    }
  }
  w.family("taskrunner_checkpoint_status",
           "1 for the status each checkpoint ended with (ok, warn, failed, skipped, timeout).");
  for (const auto* c : records) {
    w.sample("taskrunner_checkpoint_status",
             {{"checkpoint", str(*c, "id")}, {"status", str(*c, "status")}}, 1);
  }
  if (const auto* env = fields::env_cache(doc)) {
    w.family("taskrunner_env_cache_result",
             "1 for the environment cache's result (hit, miss, rebuilt) in its mode.");
    w.sample("taskrunner_env_cache_result",
             {{"result", str(*env, "result")}, {"mode", str(*env, "mode")}}, 1);
    if (env->contains("bytes_restored") && (*env)["bytes_restored"].is_number()) {
      w.single("taskrunner_env_cache_restored_bytes",
               "Bytes of snapshot archive read by an environment cache hit.",
               (*env)["bytes_restored"].get<double>());
    }
  }
  if (const auto* sys = find(doc, "system_deps"); sys != nullptr && (*sys).contains("detail")) {
    const auto cache = str((*sys)["detail"], "cache");
    if (!cache.empty()) {
      w.family("taskrunner_nix_env_result", "1 for the Nix environment's result (hit, miss).");
      w.sample("taskrunner_nix_env_result", {{"result", cache}}, 1);
    }
  }
  if (const auto* uv = find(doc, "uv"); uv != nullptr && (*uv).contains("detail")) {
    const auto installer = str((*uv)["detail"], "installer");
    if (!installer.empty()) {
      w.family("taskrunner_installer_info", "1 for the installer the run used (uv or pip).");
      w.sample("taskrunner_installer_info", {{"installer", installer}}, 1);
    }
  }
  if (const auto* deps = find(doc, "python_deps");
      deps != nullptr && (*deps).contains("detail") && (*deps)["detail"].is_object()) {
    const auto& d = (*deps)["detail"];
    if (d.contains("installed_distributions") && d["installed_distributions"].is_number()) {
      w.single("taskrunner_installed_distributions",
               "Distributions installed in the venv by python_deps.",
               d["installed_distributions"].get<double>());
    }
  }
  if (doc.contains("exit_code") && doc["exit_code"].is_number()) {
    w.single("taskrunner_exit_code", "Exit code of the run (the user code's own when it ran).",
             doc["exit_code"].get<double>());
  }
  const auto started = doc.contains("started_at") ? doc["started_at"] : nlohmann::json();
  if (const auto* code = find(doc, "user_code");
      code != nullptr && str(*code, "status") != "skipped") {
    if (const auto s = seconds_between(started, (*code)["started_at"])) {
      w.single("taskrunner_time_to_user_code_seconds",
               "Seconds from the start of the run to the start of the user code.", *s);
    }
  }
  if (const auto* deps = find(doc, "python_deps"); deps != nullptr && deps->contains("ended_at")) {
    if (const auto s = seconds_between(started, (*deps)["ended_at"])) {
      w.single("taskrunner_setup_seconds",
               "Seconds from the start of the run to the end of python_deps (all setup).", *s);
    }
  }
  if (doc.contains("finished_at")) {
    if (const auto s = seconds_between(started, doc["finished_at"])) {
      w.single("taskrunner_run_duration_seconds", "Seconds from the start to the end of the run.",
               *s);
    }
    if (doc["finished_at"].is_string()) {
      if (const auto t = util::parse_rfc3339(doc["finished_at"].get<std::string>())) {
        w.single("taskrunner_run_finished_timestamp_seconds",
                 "Unix time at which the run finished.",
                 std::chrono::duration<double>(t->time_since_epoch()).count());
      }
    }
  }
  return w.text();
}

}  // namespace taskrunner::report
