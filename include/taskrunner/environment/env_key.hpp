#pragma once
// The content key of a finished Python environment (docs/env-cache.md "Key"): everything that
// determines what the venv contains, hashed, so every pod asking for the same environment finds
// the same entry and any change makes a new one.
#include <string>
#include <string_view>
#include <vector>

#include "taskrunner/spec/requirement.hpp"

namespace taskrunner::environment {

/// Bumped whenever the layout of entries or the meaning of the key's inputs changes.
inline constexpr int kEnvFormat = 2;  ///< 2: entries carry their lock (docs/locks.md)

/// What determines the environment.
struct EnvKeyInput {
  std::string python;          ///< base interpreter (its real sys.executable)
  std::string python_version;  ///< e.g. "3.11.7"
  std::string platform;        ///< machine, e.g. "x86_64-linux" (environment::nix_system())
  std::string installer;       ///< "uv" or "pip"
  std::string installer_version;
  std::vector<spec::RequirementLine> requirements;  ///< the request, or the lock's pins
  bool pinned = false;                  ///< requirements are a lock's (REQUIREMENTS_LOCK)
  std::vector<std::string> index_urls;  ///< as configured; credentials are removed here
  std::string venv_path;                ///< where the venv lives (snapshots restore there)
};

/// One requirement in canonical form: the PEP 503-normalised name, white space removed except
/// between two word characters (so "requests >= 2" == "requests>=2", markers keep "and"/"or"
/// apart), then its hashes sorted: "name>=2 --hash=sha256:a --hash=sha256:b".
std::string canonical_requirement(const spec::RequirementLine& line);

/// The key's inputs as canonical JSON text (sorted, de-duplicated requirements; redacted index
/// URLs; kEnvFormat). Exposed so tests and `taskrunner cache status` can show what was hashed.
std::string env_key_material(const EnvKeyInput& input);

/// sha256 hex of env_key_material(). Same inputs → same key on every pod; order of requirements,
/// white space and duplicate lines do not matter; anything else does.
std::string env_key(const EnvKeyInput& input);

}  // namespace taskrunner::environment
