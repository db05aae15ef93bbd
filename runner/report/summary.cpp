#include "taskrunner/report/summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "document.hpp"
#include "taskrunner/report/checkpoint.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::report {
namespace {

/// Nearest-rank percentile of `v` (sorted here); nullopt when empty.
std::optional<double> percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::max<std::size_t>(rank, 1) - 1];
}

nlohmann::json opt(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json rate(std::size_t part, std::size_t whole) {
  return whole == 0 ? nlohmann::json(nullptr)
                    : nlohmann::json(static_cast<double>(part) / static_cast<double>(whole));
}

std::string fmt_ms(const nlohmann::json& v) {
  if (!v.is_number()) return "-";
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "%.0f", v.get<double>());
  return buf;
}

std::string fmt_rate(const nlohmann::json& v) {
  if (!v.is_number()) return "n/a";
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "%.1f %%", 100.0 * v.get<double>());
  return buf;
}

}  // namespace

bool Summary::add(const nlohmann::json& d) {
  if (!d.is_object() || fields::str(d, "run_id").empty() || !d.contains("checkpoints") ||
      !d["checkpoints"].is_array()) {
    ++foreign_;
    return false;
  }
  ++runs_;
  bool failure_seen = false;
  for (const auto& c : d["checkpoints"]) {
    const auto id = fields::str(c, "id");
    const auto status = fields::str(c, "status");
    if (id.empty() || status.empty()) continue;
    auto& pc = checkpoints_[id];
    ++pc.status[status];
    if (status != "skipped") {
      if (const auto ms = fields::num(c, "duration_ms")) pc.durations_ms.push_back(*ms);
    }
    if (!failure_seen && (status == "failed" || status == "timeout")) {
      failure_seen = true;
      const auto& detail = c.contains("detail") ? c["detail"] : nlohmann::json();
      auto kind = fields::str(detail, "failure");
      if (kind.empty()) {
        kind = id;
        kind += ' ';
        kind += status;
      }
      auto& f = failures_[kind];
      ++f.count;
      if (f.checkpoint.empty()) f.checkpoint = id;
      if (f.hint.empty() && c.contains("error")) f.hint = fields::str(c["error"], "hint");
    }
  }
  if (const auto* env = fields::env_cache(d)) ++env_cache_[fields::str(*env, "result")];
  if (const auto* sys = fields::find(d, "system_deps"); sys != nullptr && sys->contains("detail")) {
    const auto cache = fields::str((*sys)["detail"], "cache");
    if (!cache.empty()) ++nix_[cache];
  }
  if (const auto* code = fields::find(d, "user_code"); code != nullptr &&
                                                       fields::str(*code, "status") != "skipped" &&
                                                       !fields::str(*code, "started_at").empty()) {
    const auto& started = d.contains("started_at") ? d["started_at"] : nlohmann::json();
    if (const auto s = fields::seconds_between(started, (*code)["started_at"])) {
      time_to_code_s_.push_back(*s);
    }
  }
  if (const auto code = fields::num(d, "exit_code")) ++exit_codes_[static_cast<int>(*code)];
  return true;
}

void Summary::add_paths(const std::vector<std::filesystem::path>& paths) {
  const auto read_one = [this](const std::filesystem::path& file) {
    const auto text = util::read_file(file, std::size_t{16} * 1024 * 1024);
    if (!text) {
      add_unreadable();
      return;
    }
    const auto d = nlohmann::json::parse(*text, nullptr, false);
    if (d.is_discarded()) {
      add_unreadable();
      return;
    }
    add(d);
  };
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec)) {
      read_one(p);
      continue;
    }
    std::filesystem::recursive_directory_iterator it(
        p, std::filesystem::directory_options::skip_permission_denied, ec);
    if (ec) {
      add_unreadable();
      continue;
    }
    for (const std::filesystem::recursive_directory_iterator end; it != end; it.increment(ec)) {
      if (ec) {
        add_unreadable();
        break;
      }
      if (it->path().filename() == "checkpoints.json" && it->is_regular_file(ec)) {
        read_one(it->path());
      }
    }
  }
}

nlohmann::json Summary::to_json() const {
  nlohmann::json out;
  out["runs"] = runs_;
  out["skipped"] = {{"unreadable", unreadable_}, {"foreign", foreign_}};
  nlohmann::json cps = nlohmann::json::object();
  for (const auto& [id, pc] : checkpoints_) {
    std::size_t count = 0;
    for (const auto& [st, n] : pc.status) count += n;
    cps[id] = {{"count", count},
               {"status", pc.status},
               {"p50_ms", opt(percentile(pc.durations_ms, 50))},
               {"p95_ms", opt(percentile(pc.durations_ms, 95))},
               {"max_ms", opt(percentile(pc.durations_ms, 100))}};
  }
  out["checkpoints"] = cps;
  const auto count = [](const std::map<std::string, std::size_t>& m, const char* k) {
    const auto it = m.find(k);
    return it == m.end() ? std::size_t{0} : it->second;
  };
  const auto hit = count(env_cache_, "hit");
  const auto miss = count(env_cache_, "miss");
  const auto rebuilt = count(env_cache_, "rebuilt");
  out["env_cache"] = {{"hit", hit},
                      {"miss", miss},
                      {"rebuilt", rebuilt},
                      {"hit_rate", rate(hit, hit + miss + rebuilt)}};
  const auto nhit = count(nix_, "hit");
  const auto nmiss = count(nix_, "miss");
  out["nix"] = {{"hit", nhit}, {"miss", nmiss}, {"hit_rate", rate(nhit, nhit + nmiss)}};
  std::vector<std::pair<std::string, const Failure*>> fs;
  fs.reserve(failures_.size());
  for (const auto& [kind, f] : failures_) fs.emplace_back(kind, &f);
  std::stable_sort(fs.begin(), fs.end(),
                   [](const auto& a, const auto& b) { return a.second->count > b.second->count; });
  out["failures"] = nlohmann::json::array();
  for (std::size_t i = 0; i < fs.size() && i < 10; ++i) {
    out["failures"].push_back({{"kind", fs[i].first},
                               {"checkpoint", fs[i].second->checkpoint},
                               {"count", fs[i].second->count},
                               {"hint", fs[i].second->hint}});
  }
  out["time_to_user_code"] = {{"count", time_to_code_s_.size()},
                              {"p50_s", opt(percentile(time_to_code_s_, 50))},
                              {"p95_s", opt(percentile(time_to_code_s_, 95))}};
  nlohmann::json codes = nlohmann::json::object();
  for (const auto& [code, n] : exit_codes_) codes[std::to_string(code)] = n;
  out["exit_codes"] = codes;
  return out;
}

std::string Summary::to_text() const {
  const auto j = to_json();
  std::string out;
  char line[256];
  (void)std::snprintf(line, sizeof line, "runs: %zu (skipped: %zu unreadable, %zu not a run)\n\n",
                      runs_, unreadable_, foreign_);
  out += line;
  (void)std::snprintf(line, sizeof line, "%-13s %6s %6s %6s %6s %7s %7s %8s %8s %8s\n",
                      "checkpoint", "runs", "ok", "warn", "failed", "skipped", "timeout", "p50 ms",
                      "p95 ms", "max ms");
  out += line;
  for (const auto& info : kCheckpoints) {
    const std::string id(info.name);
    if (!j["checkpoints"].contains(id)) continue;
    const auto& c = j["checkpoints"][id];
    const auto st = [&](const char* s) { return c["status"].value(s, std::size_t{0}); };
    (void)std::snprintf(line, sizeof line, "%-13s %6zu %6zu %6zu %6zu %7zu %7zu %8s %8s %8s\n",
                        id.c_str(), c["count"].get<std::size_t>(), st("ok"), st("warn"),
                        st("failed"), st("skipped"), st("timeout"), fmt_ms(c["p50_ms"]).c_str(),
                        fmt_ms(c["p95_ms"]).c_str(), fmt_ms(c["max_ms"]).c_str());
    out += line;
  }
  const auto& e = j["env_cache"];
  (void)std::snprintf(line, sizeof line,
                      "\nenvironment cache: %zu hit, %zu miss, %zu rebuilt: hit rate %s\n",
                      e["hit"].get<std::size_t>(), e["miss"].get<std::size_t>(),
                      e["rebuilt"].get<std::size_t>(), fmt_rate(e["hit_rate"]).c_str());
  out += line;
  const auto& n = j["nix"];
  (void)std::snprintf(line, sizeof line, "nix environment: %zu hit, %zu miss: hit rate %s\n",
                      n["hit"].get<std::size_t>(), n["miss"].get<std::size_t>(),
                      fmt_rate(n["hit_rate"]).c_str());
  out += line;
  const auto& t = j["time_to_user_code"];
  const auto secs = [](const nlohmann::json& v) {
    if (!v.is_number()) return std::string("-");
    char b[32];
    (void)std::snprintf(b, sizeof b, "%.3f s", v.get<double>());
    return std::string(b);
  };
  (void)std::snprintf(line, sizeof line, "time to user code: p50 %s, p95 %s (%zu runs)\n",
                      secs(t["p50_s"]).c_str(), secs(t["p95_s"]).c_str(),
                      t["count"].get<std::size_t>());
  out += line;
  if (!j["failures"].empty()) out += "\nmost frequent failures:\n";
  for (const auto& f : j["failures"]) {
    out += "  " + std::to_string(f["count"].get<std::size_t>()) + "  " +
           f["kind"].get<std::string>() + " (at " + f["checkpoint"].get<std::string>() + ")";
    if (!f["hint"].get<std::string>().empty())
      out += "\n     hint: " + f["hint"].get<std::string>();
    out += "\n";
  }
  return out;
}

}  // namespace taskrunner::report
