// Checkpoint 5, `network`: can the index be reached — and is it needed at all? The installer and
// the interpreter are found here first (recorded again at `uv` and `venv`), so the environment
// cache can be looked up and a hit skips the check; their time belongs to this checkpoint.
#include <chrono>

#include "steps.hpp"
#include "taskrunner/preflight/network.hpp"

namespace taskrunner::app::steps {

tools::SharedProbeRecords probe_records(const Settings& s, const char* subdir) {
  tools::SharedProbeRecords r;
  if (s.env_mode != environment::EnvMode::off) r.dir = s.env_cache / subdir;
  r.signing_key = s.cache_key;
  return r;
}

Probes network(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec,
               const Index& index, execution::ProcessRunner& runner) {
  Probes p;
  const bool need_python_deps = !spec.python_deps.empty() || spec.lock.has_value();
  cp.run(report::Id::network, [&] {
    const auto t0 = std::chrono::steady_clock::now();
    auto found = tools::find_installer(s.uv, s.tools_dir, util::get(s.env, "PATH").value_or(""),
                                       s.env, runner, probe_records(s, "tools"));
    if (found) {
      p.installer = *found;
      p.installer_error = found->fallback_reason;
    } else {
      p.installer_error = found.error();
    }
    if (need_python_deps && !s.doctor && s.env_mode != environment::EnvMode::off && p.installer) {
      // An interpreter that does not resolve fails at `venv`, with its hint.
      if (auto interp = tools::resolve_interpreter(s.python, s.env, s.work_dir, runner,
                                                   probe_records(s, "interpreters"))) {
        p.interpreter = *interp;
        p.plan = plan_env_cache(s, spec, *p.installer, *p.interpreter, index.url);
      }
    }
    const auto probe_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    auto o = preflight::check_network((need_python_deps && !p.plan.hit) || s.doctor, index.url,
                                      s.network_timeout);
    o.detail["probe_ms"] = probe_ms;
    if (p.plan.hit) o.detail["reason"] = "environment cache hit: nothing to download";
    return o;
  });
  return p;
}

}  // namespace taskrunner::app::steps
