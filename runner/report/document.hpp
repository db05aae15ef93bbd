#pragma once
// Reading fields of a checkpoints.json document that may be foreign or malformed (report,
// metrics, summary): every accessor checks the type and answers "absent" instead of throwing.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace taskrunner::report::fields {

/// The record of checkpoint `id` in `doc["checkpoints"]`, or nullptr.
const nlohmann::json* find(const nlohmann::json& doc, const char* id);

/// `j[key]` when `j` is an object and it is a string, else "".
std::string str(const nlohmann::json& j, const char* key);

/// `j[key]` when `j` is an object and it is a number.
std::optional<double> num(const nlohmann::json& j, const char* key);

/// detail.env_cache of `venv` (which knows hits) or else of `python_deps`, when it has a result.
const nlohmann::json* env_cache(const nlohmann::json& doc);

/// Seconds from RFC 3339 `from` to `to` (both strings, to ≥ from), else nullopt.
std::optional<double> seconds_between(const nlohmann::json& from, const nlohmann::json& to);

}  // namespace taskrunner::report::fields
