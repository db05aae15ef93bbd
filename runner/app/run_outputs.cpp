#include "taskrunner/app/run_outputs.hpp"

#include <chrono>

#include "taskrunner/report/log.hpp"
#include "taskrunner/report/metrics.hpp"
#include "taskrunner/report/pushgateway.hpp"
#include "taskrunner/spec/index_url.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::app {

void write_run_outputs(const Settings& s, const nlohmann::json& doc) {
  const auto metrics = report::render_metrics(doc);
  const auto path = s.results_dir / "metrics.prom";
  if (const auto st = util::write_file_atomic(path, metrics); !st.ok()) {
    report::log().warn("metrics not written: {}", st.error);
  }
  if (!s.pushgateway_url) return;
  const auto t0 = std::chrono::steady_clock::now();
  const auto st = report::push_metrics(
      *s.pushgateway_url,
      {{"job", "taskrunner"}, {"workflow", s.workflow}, {"template", s.template_name}}, metrics,
      s.pushgateway_timeout);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  if (st.ok()) {
    report::log().info("metrics pushed to {} in {} ms", spec::redact_url(*s.pushgateway_url), ms);
  } else {
    report::log().warn("metrics not pushed ({} ms): {}", ms, st.error);
  }
}

}  // namespace taskrunner::app
