#include "taskrunner/app/settings.hpp"

#include <charconv>
#include <string_view>
#include <system_error>

namespace taskrunner::app {
namespace {

std::chrono::milliseconds seconds_var(const util::EnvMap& env, const std::string& var,
                                      std::chrono::milliseconds fallback) {
  const auto v = util::get(env, var);
  if (!v) return fallback;
  const auto ms = util::parse_seconds_ms(*v);
  if (!ms) throw SettingsError(var, "'" + *v + "' is not a number of seconds");
  return std::chrono::milliseconds(*ms);
}

}  // namespace

Settings load_settings(const util::EnvMap& env) {
  Settings s;
  s.env = env;
  s.work_dir = util::get(env, "TASKRUNNER_WORK_DIR").value_or("/tmp/taskrunner");
  s.uv_cache_dir = util::get(env, "UV_CACHE_DIR").value_or("/root/.cache/uv");
  s.tools_dir = util::get(env, "TASKRUNNER_TOOLS_DIR").value_or((s.uv_cache_dir / "bin").string());
  s.workflow = util::get(env, "ARGO_WORKFLOW_NAME").value_or("local");
  if (s.workflow.find('/') != std::string::npos || s.workflow == "..") {
    throw SettingsError("ARGO_WORKFLOW_NAME", "'" + s.workflow + "' must not contain '/'");
  }
  if (auto r = util::get(env, "TASKRUNNER_RESULTS_DIR")) {
    s.results_dir = *r;
  } else {
    std::error_code ec;
    s.results_dir = std::filesystem::is_directory("/mnt/results", ec)
                        ? std::filesystem::path("/mnt/results") / s.workflow
                        : s.work_dir / "results";
  }
  s.python = util::get(env, "TASKRUNNER_PYTHON").value_or("python3");
  s.uv = util::get(env, "TASKRUNNER_UV");
  s.nix_portable = util::get(env, "TASKRUNNER_NIX_PORTABLE");
  s.install_timeout = seconds_var(env, "TASKRUNNER_INSTALL_TIMEOUT", s.install_timeout);
  if (util::get(env, "TASKRUNNER_CODE_TIMEOUT")) {
    s.code_timeout = seconds_var(env, "TASKRUNNER_CODE_TIMEOUT", {});
  }
  s.grace = seconds_var(env, "TASKRUNNER_GRACE_SECONDS", s.grace);
  s.network_timeout = seconds_var(env, "TASKRUNNER_NETWORK_TIMEOUT", s.network_timeout);
  if (auto v = util::get(env, "TASKRUNNER_MIN_FREE_MB")) {
    std::uint64_t mb = 0;
    const std::string_view text = *v;
    const char* first = text.data();
    const char* last = first + text.size();
    const auto parsed = std::from_chars(first, last, mb);
    if (parsed.ec != std::errc() || parsed.ptr != last) {
      throw SettingsError("TASKRUNNER_MIN_FREE_MB", "'" + *v + "' is not a whole number of MiB");
    }
    s.min_free_bytes = mb * 1024 * 1024;
  }
  return s;
}

}  // namespace taskrunner::app
