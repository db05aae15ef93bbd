#pragma once
// The lock of what an installer installed or would install (docs/locks.md), read from the
// installer's own output — never from hashing files after the fact.
#include <filesystem>
#include <string_view>

#include "taskrunner/spec/lock.hpp"
#include "taskrunner/util/result.hpp"

namespace taskrunner::environment {

/// The distributions of a pip installation report (`pip install --report`, format version 1,
/// https://pip.pypa.io/en/stable/reference/installation-report/): each `install` item's
/// metadata name and version, and the sha256 of the file pip downloaded
/// (`download_info.archive_info.hashes.sha256`, else the legacy `hash` "sha256=…"). Fails,
/// naming the distribution, for an item without an archive sha256 (a local directory or VCS
/// checkout has no file to pin) and for a document that is not a report. The header is left
/// empty for the caller.
util::Result<spec::Lock> lock_from_pip_report(std::string_view report_json);

/// Reads `path` (at most spec::kMaxLockBytes) as a pip report (`pip_report`) or as a lock / `uv
/// pip compile` output; the errno message names the path.
util::Result<spec::Lock> read_resolution(const std::filesystem::path& path, bool pip_report);

}  // namespace taskrunner::environment
