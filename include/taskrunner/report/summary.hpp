#pragma once
// `taskrunner report --summary DIR...`: many runs' checkpoints.json documents at once — the
// fleet view (how often the caches hit, where time goes at p95, what fails most and why).
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace taskrunner::report {

/// Running totals over documents. Percentiles are nearest-rank (the smallest value with at least
/// p % of the values at or below it), over the runs where the checkpoint was not `skipped`.
class Summary {
 public:
  /// Adds one parsed document. Returns false (and counts it as foreign) when it is not a
  /// checkpoints.json document: an object with a string `run_id` and a `checkpoints` array.
  bool add(const nlohmann::json& doc);
  /// Counts a file that could not be read or parsed.
  void add_unreadable() { ++unreadable_; }

  /// Reads every file named `checkpoints.json` under each of `paths` (recursively, symlinks not
  /// followed; a path that is a file is read itself), at most 16 MiB each. Never throws: a file
  /// that cannot be read or parsed counts as unreadable, a directory that cannot be listed too.
  void add_paths(const std::vector<std::filesystem::path>& paths);

  /// The numbers, for machines (`--json`): runs, skipped {unreadable, foreign}, checkpoints
  /// {id: {count, status {…}, p50_ms, p95_ms, max_ms}}, env_cache {hit, miss, rebuilt,
  /// hit_rate}, nix {hit, miss, hit_rate}, failures [{kind, checkpoint, count, hint}] (most
  /// frequent first, at most 10), time_to_user_code {count, p50_s, p95_s}, exit_codes {code: n}.
  /// Rates are null when there is nothing to divide.
  [[nodiscard]] nlohmann::json to_json() const;

  /// The same as a table for a terminal.
  [[nodiscard]] std::string to_text() const;

 private:
  struct PerCheckpoint {
    std::map<std::string, std::size_t> status;
    std::vector<double> durations_ms;
  };
  struct Failure {
    std::string checkpoint;
    std::string hint;
    std::size_t count = 0;
  };
  std::size_t runs_ = 0;
  std::size_t unreadable_ = 0;
  std::size_t foreign_ = 0;
  std::map<std::string, PerCheckpoint> checkpoints_;
  std::map<std::string, std::size_t> env_cache_;
  std::map<std::string, std::size_t> nix_;
  std::map<std::string, Failure> failures_;  ///< by kind
  std::vector<double> time_to_code_s_;
  std::map<int, std::size_t> exit_codes_;
};

}  // namespace taskrunner::report
