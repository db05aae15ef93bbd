#pragma once
// The resolved lock of a run (docs/locks.md): every installed distribution pinned as
// `name==version --hash=sha256:<hex>` in pip's requirements-file format
// (https://pip.pypa.io/en/stable/topics/secure-installs/#hash-checking-mode), which
// `pip install --require-hashes --no-deps -r` and `uv pip install --require-hashes -r` accept.
// A comment header says what it was resolved for:
//
//   # taskrunner requirements.lock
//   # python: 3.11.2
//   # platform: x86_64-linux
//   # index: https://pypi.org/simple        (credentials removed)
//   # resolved_at: 2026-12-01T22:00:00Z
//   # resolver: pip 23.0.1 install --report
//   certifi==2022.9.24 --hash=sha256:41f5…
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "taskrunner/spec/requirement.hpp"
#include "taskrunner/util/result.hpp"

namespace taskrunner::spec {

/// One pinned distribution.
struct PinnedDistribution {
  std::string name;                 ///< PEP 503 normalised
  std::string version;              ///< as the installer reported it (PEP 440)
  std::vector<std::string> hashes;  ///< "sha256:<64 hex>", sorted, at least one
};

/// What the header says the lock was resolved for; every field optional in a lock read back.
struct LockHeader {
  std::optional<std::string> python;       ///< interpreter version, "3.11.2"
  std::optional<std::string> platform;     ///< Nix system, "x86_64-linux"
  std::optional<std::string> index;        ///< redacted index URL
  std::optional<std::string> resolved_at;  ///< RFC 3339 UTC
  std::optional<std::string> resolver;     ///< how it was obtained
};

struct Lock {
  LockHeader header;
  std::vector<PinnedDistribution> distributions;  ///< sorted by name
};

/// Largest lock file read (bytes) and most distributions in one lock.
inline constexpr std::size_t kMaxLockBytes = std::size_t{4} << 20;
inline constexpr std::size_t kMaxLockDistributions = 10000;

/// Parses a lock: requirements-file syntax (comments, blank lines, backslash continuations)
/// where every requirement is exactly `name==version` — no extras, markers, URLs or other
/// operators — with at least one `--hash=sha256:<64 hex>`, each name once; header comments as
/// above. Fails with a sentence naming the line (or the distribution) at fault. Also reads
/// `uv pip compile --generate-hashes --no-header` output.
util::Result<Lock> parse_lock(std::string_view text);

/// Renders the lock: the header (fields present), then one distribution per line in name order,
/// hashes sorted. parse_lock(render_lock(l)) == l.
std::string render_lock(const Lock& lock);

/// SHA-256 (64 hex) of the distributions alone (`name==version --hash=…` lines, sorted): two
/// locks pinning the same files have the same digest whatever their headers say.
std::string lock_digest(const Lock& lock);

/// The distributions as requirement lines (`name==version` + hashes), for the env-cache key and
/// the installer's requirements file.
std::vector<RequirementLine> lock_requirements(const Lock& lock);

/// True when both pin the same set of `name==version` (hashes not compared: an index serves one
/// version's files unchanged; PyPI forbids re-uploads).
bool same_resolution(const Lock& a, const Lock& b);

/// Why the lock cannot be installed with this interpreter and platform: its header names another
/// Python major.minor (wheels' tags are per minor version, PEP 425) or another platform. nullopt
/// when they match or the header does not say.
std::optional<std::string> lock_mismatch(const Lock& lock, std::string_view python_version,
                                         std::string_view platform);

}  // namespace taskrunner::spec
