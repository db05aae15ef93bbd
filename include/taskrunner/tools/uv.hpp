#pragma once
// `uv` checkpoint: which installer runs.
#include <filesystem>
#include <optional>
#include <string>

#include "taskrunner/execution/process.hpp"
#include "taskrunner/tools/probe_record.hpp"

#include "taskrunner/util/result.hpp"

namespace taskrunner::tools {

enum class InstallerKind { uv, pip };

/// The installer chosen for this run.
struct Installer {
  InstallerKind kind = InstallerKind::pip;
  std::filesystem::path uv;  ///< the uv binary when kind == uv
  std::string version;       ///< `uv --version` output, first line
  std::string source;        ///< "TASKRUNNER_UV", "tools_dir" or "PATH"
  /// pip fallback only: why a uv found by search was not used ("uv at … does not run"); empty
  /// when there was no uv at all.
  std::string fallback_reason;
  /// true when the version came from a record (no uv was started).
  bool version_from_cache = false;
};

/// Looks for uv in order: `explicit_path` (TASKRUNNER_UV; an error if set but not executable),
/// `<tools_dir>/uv` (the cache volume's bin/ dir), then `uv` on PATH; runs `uv --version`
/// (10 s limit) — unless `shared.dir` holds a record of that version for this very file (its
/// path, size, mtime and ctime: file_identity()), whose version looks like uv's (`uv 0.11.28…`)
/// and, with `shared.signing_key`, whose HMAC-SHA256 verifies; a run writes that record. The
/// version is part of every environment-cache key, so a warm pod would otherwise start uv just
/// to ask (a record changes no program that runs, only that string). A wrapper script whose
/// target is replaced keeps its record: replace the script too. Without a working uv, returns
/// the pip fallback (with `fallback_reason` when a uv was found but does not run). Fails only
/// when TASKRUNNER_UV is set and unusable.
util::Result<Installer> find_installer(const std::optional<std::string>& explicit_path,
                                       const std::filesystem::path& tools_dir,
                                       const std::string& path_var, const util::EnvMap& env,
                                       execution::ProcessRunner& runner,
                                       const SharedProbeRecords& shared = {});

}  // namespace taskrunner::tools
