#pragma once
// What a finished run leaves besides checkpoints.json: <results>/metrics.prom and, when
// configured, the same metrics pushed to a Pushgateway (README "Metrics").
#include <nlohmann/json.hpp>

#include "taskrunner/app/settings.hpp"

namespace taskrunner::app {

/// Writes report::render_metrics(`doc`) to `<results_dir>/metrics.prom` (atomically: temp file +
/// rename) and, with `s.pushgateway_url`, PUTs it to the group job="taskrunner",
/// workflow=`s.workflow`, template=`s.template_name` within `s.pushgateway_timeout`. Neither can
/// fail the run: a write or push error is a `warn` log line naming the file or URL (redacted);
/// a push costs at most the timeout. Called after Recorder::finish_run, and in exec mode just
/// before the hand-over (the document then has no exit code).
void write_run_outputs(const Settings& s, const nlohmann::json& doc);

}  // namespace taskrunner::app
