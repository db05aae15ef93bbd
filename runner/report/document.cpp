#include "document.hpp"

#include <chrono>

#include "taskrunner/util/time.hpp"

namespace taskrunner::report::fields {

const nlohmann::json* find(const nlohmann::json& doc, const char* id) {
  if (!doc.is_object() || !doc.contains("checkpoints") || !doc["checkpoints"].is_array()) {
    return nullptr;
  }
  for (const auto& c : doc["checkpoints"]) {
    if (c.is_object() && str(c, "id") == id) return &c;
  }
  return nullptr;
}

std::string str(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

std::optional<double> num(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return std::nullopt;
  return j[key].get<double>();
}

const nlohmann::json* env_cache(const nlohmann::json& doc) {
  for (const char* id : {"venv", "python_deps"}) {
    const auto* c = find(doc, id);
    if (c == nullptr || !c->contains("detail")) continue;
    const auto& d = (*c)["detail"];
    if (d.is_object() && d.contains("env_cache") && !str(d["env_cache"], "result").empty()) {
      return &d["env_cache"];
    }
  }
  return nullptr;
}

std::optional<double> seconds_between(const nlohmann::json& from, const nlohmann::json& to) {
  if (!from.is_string() || !to.is_string()) return std::nullopt;
  const auto a = util::parse_rfc3339(from.get<std::string>());
  const auto b = util::parse_rfc3339(to.get<std::string>());
  if (!a || !b || *b < *a) return std::nullopt;
  return std::chrono::duration<double>(*b - *a).count();
}

}  // namespace taskrunner::report::fields
