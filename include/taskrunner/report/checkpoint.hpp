#pragma once
// The 11 checkpoints of a run, their statuses, and the recorder that publishes every transition
// as one JSON line on stderr (and the log file) and rewrites <results>/checkpoints.json atomically.
// Every field is documented in docs/checkpoints.md.
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace taskrunner::report {

/// Checkpoint ids in pipeline order. `seq` in records is the 1-based position in this order.
enum class Id : std::uint8_t {
  spec,
  runtime,
  cache_mounts,
  disk_space,
  network,
  uv,
  nix,
  system_deps,
  venv,
  python_deps,
  user_code,
};

inline constexpr std::size_t kCheckpointCount = 11;

/// All ids in order, for iteration.
inline constexpr std::array<Id, kCheckpointCount> kAllIds = {
    Id::spec, Id::runtime,     Id::cache_mounts, Id::disk_space,  Id::network,  Id::uv,
    Id::nix,  Id::system_deps, Id::venv,         Id::python_deps, Id::user_code};

/// One row of the checkpoint table: the single list that the recorder (names), `doctor` (which
/// checkpoints it runs), the README's checkpoint table and the end-to-end harness (both checked
/// by tests/docs_test.py) read. Each checkpoint's code is runner/app/steps/<name>.cpp.
struct CheckpointInfo {
  Id id;
  std::string_view name;     ///< the stable string id, used in JSON, logs and docs
  bool in_doctor;            ///< `taskrunner doctor` runs it (the checks before installing)
  std::string_view summary;  ///< what it does, one line (the README table's third column)
};

/// The checkpoint table, in pipeline order (seq = position + 1).
inline constexpr std::array<CheckpointInfo, kCheckpointCount> kCheckpoints = {{
    {Id::spec, "spec", true,
     "reads environment, spec file and flags; validates code, PEP 508 requirements, nixpkgs "
     "attributes, index URL"},
    {Id::runtime, "runtime", true,
     "PID 1 or not, uid, kernel, cgroup v1/v2 memory limit, seccomp, user namespaces, bwrap/proot; "
     "creates the work and results dirs"},
    {Id::cache_mounts, "cache_mounts", true,
     "cache dir exists (created if missing) and is writable; else `warn` and run without cache; "
     "same file system as the work dir?"},
    {Id::disk_space, "disk_space", true,
     "free bytes and inodes of the work dir (fails below the minimum) and cache dir (warns)"},
    {Id::network, "network", true,
     "finds the installer and the interpreter and looks up the environment cache (`probe_ms`), "
     "then DNS + TCP connect to the index host and, for http indexes, one GET of the index page, "
     "within `TASKRUNNER_NETWORK_TIMEOUT`; `skipped` when there is nothing to download (no deps, "
     "or an environment cache hit)"},
    {Id::uv, "uv", true,
     "finds uv and records path + version; without it `warn` and `installer: pip`"},
    {Id::nix, "nix", true,
     "finds nix-portable / nix, its store mode and version (nix-portable's first start under a "
     "lock); no process when the environment is already built; `skipped` without system deps"},
    {Id::system_deps, "system_deps", false,
     "one `buildEnv` of all attributes per key: `hit` (out-link valid, no process) or a "
     "single-flight `nix-build` in the background, in parallel with `venv` + `python_deps`; "
     "`skipped` without system deps"},
    {Id::venv, "venv", false,
     "resolves the base interpreter; on an environment cache hit restores the snapshot or uses the "
     "in-place venv (resolved again first when older than `TASKRUNNER_RESOLVE_MAX_AGE`), else "
     "writes a fresh venv (PEP 405 `pyvenv.cfg` and links, no child; `python -m venv` when pip "
     "installs and the base has no pip) (one builder per key)"},
    {Id::python_deps, "python_deps", false,
     "writes `<work>/requirements.txt`, `uv pip install` or pip (uv: `uv pip compile "
     "--generate-hashes` first), or installs exactly `REQUIREMENTS_LOCK`; writes the run's lock to "
     "`<results>/requirements.lock`; records counts; names an unknown package or a hash mismatch; "
     "compiles bytecode and publishes the environment cache entry with its lock; on a hit writes "
     "the entry's lock"},
    {Id::user_code, "user_code", false,
     "runs the code with the venv's python in its own process group; records exit code and bytes"},
}};

/// Statuses a checkpoint moves through: `running` then exactly one terminal status.
enum class Status : std::uint8_t { running, ok, warn, failed, skipped, timeout };

/// The stable string id ("python_deps"), used in JSON, logs and docs (kCheckpoints).
std::string_view name(Id id);
/// The checkpoint table's row for `id`.
const CheckpointInfo& info(Id id);
/// 1-based position of `id` in the pipeline.
int seq(Id id);
/// "running", "ok", "warn", "failed", "skipped", "timeout".
std::string_view name(Status status);

/// What went wrong and what to do next; attached to failed/timeout/warn records.
struct ErrorInfo {
  std::string message;
  std::string hint;
};

/// One checkpoint's record as it stands.
struct Record {
  Id id{};
  Status status = Status::running;
  std::string started_at;  ///< RFC 3339 UTC with milliseconds
  std::string ended_at;    ///< empty while running
  std::int64_t duration_ms = 0;
  nlohmann::json detail = nlohmann::json::object();
  std::optional<ErrorInfo> error;
};

/// RFC 3339 UTC timestamp with milliseconds, e.g. "2026-11-22T03:17:45.123Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point t);

/// Maximum size in bytes of one JSON event line (before the newline). Longer details are
/// replaced by {"truncated": true, ...} and long messages are cut, so log shippers with 4 KiB
/// line limits never split a record.
inline constexpr std::size_t kMaxEventBytes = 4096;

/// Collects checkpoint records for one run.
///
/// Each start/finish emits one JSON line through `emit` (by default the event logger:
/// stderr plus the log file) and, once `set_output()` was called, rewrites checkpoints.json
/// atomically (temp file + rename), so a run killed at any point leaves a valid document.
class Recorder {
 public:
  using Emit = std::function<void(const std::string& line)>;

  /// `run_id` and `workflow` are copied into every document; `emit` receives each event line
  /// (without trailing newline).
  Recorder(std::string run_id, std::string workflow, Emit emit);

  /// Marks `id` as running and emits the transition.
  void start(Id id);
  /// Ends `id` with a terminal status; `duration_ms` is measured from start() (0 if it was
  /// never started, e.g. a skip). Errors with the checkpoint file are logged, not thrown.
  void finish(Id id, Status status, nlohmann::json detail = nlohmann::json::object(),
              std::optional<ErrorInfo> error = std::nullopt);
  /// W3C trace context (from TRACEPARENT) copied into every event and record as
  /// `trace_id` / `span_id`.
  void set_trace(std::string trace_id, std::string span_id);
  /// Writes "N/11" (Argo's progress format: N checkpoints with a terminal status) to `path`
  /// atomically after every finish (ARGO_PROGRESS_FILE).
  void set_progress_file(std::filesystem::path path);
  /// Starts writing `path` (checkpoints.json), beginning now: temp file + rename when a long
  /// checkpoint (nix, system_deps, venv, python_deps, user_code) starts, when one fails or
  /// times out, at write_output() and at finish_run() (docs/checkpoints.md).
  void set_output(std::filesystem::path path);
  /// Writes the document to the output now (exec mode, before the process is replaced).
  void write_output();
  /// Closes the run: every checkpoint never reached is recorded `skipped` with
  /// detail.reason "not reached", and the document gets `exit_code` and `finished_at`.
  void finish_run(int exit_code);

  /// The whole run as the checkpoints.json document.
  [[nodiscard]] nlohmann::json document() const;
  /// The record for `id`, if it was started or finished.
  [[nodiscard]] const Record* find(Id id) const;

 private:
  /// One event line for `record`. Always ≤ kMaxEventBytes.
  [[nodiscard]] std::string event_line(const Record& record) const;
  void publish(const Record& record);
  Record& slot(Id id);

  std::string run_id_;
  std::string workflow_;
  Emit emit_;
  std::string started_at_;
  std::vector<Record> records_;  // in the order they were started
  std::vector<std::chrono::steady_clock::time_point> starts_;
  std::optional<std::filesystem::path> output_;
  std::optional<std::filesystem::path> progress_file_;
  std::string trace_id_;
  std::string span_id_;
  std::optional<int> exit_code_;
  std::string finished_at_;
};

}  // namespace taskrunner::report
