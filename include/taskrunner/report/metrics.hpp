#pragma once
// A run's metrics for Prometheus: the text exposition format
// (https://prometheus.io/docs/instrumenting/exposition_formats/), written to
// <results>/metrics.prom and optionally pushed to a Pushgateway (report/pushgateway.hpp).
#include <string>

#include <nlohmann/json.hpp>

namespace taskrunner::report {

/// The metrics of one run, derived from its checkpoints.json document `doc` (as
/// Recorder::document() gives it after finish_run). Every series is a gauge describing this one
/// run — batch pods end before a scrape, so counters would restart at every pod (Prometheus'
/// guidance for batch jobs: push gauges, aggregate in queries). Labels are low-cardinality
/// only: checkpoint id, status, installer, cache result and mode — never keys, run ids or
/// paths. Series (seconds, bytes, as named):
///   taskrunner_checkpoint_duration_seconds{checkpoint}
///   taskrunner_checkpoint_status{checkpoint,status}           1 for the status it ended with
///   taskrunner_env_cache_result{result,mode}                  1, when the env cache was used
///   taskrunner_env_cache_restored_bytes                       archive bytes a snapshot hit read
///   taskrunner_nix_env_result{result}                         1, when system deps were asked
///   taskrunner_installer_info{installer}                      1 (uv or pip)
///   taskrunner_installed_distributions                        python_deps' count
///   taskrunner_exit_code                                      the run's exit code
///   taskrunner_time_to_user_code_seconds                      run start → user code start
///   taskrunner_setup_seconds                                  run start → end of python_deps
///   taskrunner_run_duration_seconds                           run start → finish
///   taskrunner_run_finished_timestamp_seconds                 Unix time of the finish
/// A series whose input is missing from `doc` (a checkpoint never reached, no env cache) is
/// left out. Never throws on a malformed document: what cannot be read is left out.
std::string render_metrics(const nlohmann::json& doc);

}  // namespace taskrunner::report
