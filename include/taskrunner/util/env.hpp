#pragma once
// Access to the process environment, behind a seam so tests can pass a fixed map.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace taskrunner::util {

/// The environment as a name → value map.
using EnvMap = std::map<std::string, std::string>;

/// Snapshot of `environ` at the time of the call.
EnvMap current_environment();

/// Value of `name` in `env` if set and non-empty.
std::optional<std::string> get(const EnvMap& env, const std::string& name);

/// Converts a map into the "NAME=value" vector a child process gets (sorted by name).
std::vector<std::string> to_envp(const EnvMap& env);

/// Parses a boolean environment value: 1/true/yes/on and 0/false/no/off (case-insensitive).
/// Returns nullopt for anything else so the caller can name the bad field.
std::optional<bool> parse_bool(const std::string& value);

}  // namespace taskrunner::util
