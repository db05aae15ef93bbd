#pragma once
// The task description: what to run and what it needs. Built from three sources, later wins:
// the environment (the Argo/Hera contract), a JSON spec (docs/spec.md), command-line flags.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "taskrunner/spec/lock.hpp"
#include "taskrunner/spec/requirement.hpp"
#include "taskrunner/util/env.hpp"

namespace taskrunner::spec {

/// A validated task.
struct TaskSpec {
  std::optional<std::string> code;                 ///< inline Python (PYTHON_CODE / python_code)
  std::optional<std::filesystem::path> code_file;  ///< PYTHON_CODE_FILE / python_code_file
  std::vector<std::string> args;                   ///< become sys.argv[1:]
  std::vector<RequirementLine> python_deps;        ///< PYTHON_DEPS + REQUIREMENTS(+_FILE), merged
  std::optional<Lock> lock;  ///< REQUIREMENTS_LOCK: install exactly this (docs/locks.md)
  std::optional<std::filesystem::path> lock_file;  ///< where the lock was read from
  std::vector<std::string> system_deps;            ///< nixpkgs attribute paths
  bool use_cache = true;                           ///< USE_CACHE
  std::optional<std::string> index_url;            ///< index URL (with credentials; never logged)
};

/// Raw, unvalidated inputs gathered from all sources; validate() turns them into a TaskSpec.
struct SpecInput {
  std::optional<std::string> code;
  std::optional<std::string> code_file;
  std::vector<std::string> deps;                 ///< individual requirement strings
  std::optional<std::string> requirements;       ///< requirements.txt content
  std::optional<std::string> requirements_file;  ///< path
  std::optional<std::string> requirements_lock;  ///< path of a lock (docs/locks.md)
  std::vector<std::string> system_deps;
  std::optional<bool> use_cache;
  std::optional<std::string> index_url;
  std::vector<std::string> args;
};

/// Thrown for invalid input; `field` names the env var, JSON field or flag at fault.
struct SpecError : std::runtime_error {
  SpecError(std::string field_name, const std::string& message)
      : std::runtime_error(field_name + ": " + message), field(std::move(field_name)) {}
  std::string field;
};

/// Reads PYTHON_CODE, PYTHON_CODE_FILE, PYTHON_DEPS, REQUIREMENTS, REQUIREMENTS_FILE,
/// REQUIREMENTS_LOCK (empty: none), SYSTEM_DEPS, USE_CACHE and the index variables
/// (TASKRUNNER_INDEX_URL, else UV_DEFAULT_INDEX, else UV_INDEX_URL, else PIP_INDEX_URL). Throws
/// SpecError for a malformed USE_CACHE.
SpecInput from_environment(const util::EnvMap& env);

/// Overlays the fields of a JSON spec document (docs/spec.md) onto `input`.
/// Throws SpecError for malformed JSON, unknown fields or wrong types, naming the field.
void overlay_json(SpecInput& input, const std::string& json_text, const std::string& source);

/// Bytes one argv string may hold, its NUL included (Linux MAX_ARG_STRLEN, execve(2)).
inline constexpr std::size_t kMaxArgBytes = 131072;

/// Validates everything and loads referenced files: exactly one of code / code file, non-empty
/// code; code, code file path and args without NUL bytes and each under kMaxArgBytes (inline
/// code of 128 KiB or more is refused: use a code file), readable code and requirements files, PEP
/// 508 requirements, pip options other than
/// --hash refused, a lock that parse_lock() accepts and that pins every requested name (else
/// the field is REQUIREMENTS_LOCK), nixpkgs attribute paths, an http(s) index URL. Reads files but
/// creates none. Throws SpecError naming the field. `require_code` false (for `taskrunner doctor`)
/// accepts a spec without code.
TaskSpec validate(const SpecInput& input, bool require_code = true);

/// A summary of the spec for the `spec` checkpoint's detail (no code text, no credentials).
nlohmann::json describe(const TaskSpec& spec);

}  // namespace taskrunner::spec
