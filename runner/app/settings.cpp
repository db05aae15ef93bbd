#include "taskrunner/app/settings.hpp"

#include "taskrunner/environment/entry_signature.hpp"

#include "taskrunner/util/number.hpp"
#include "taskrunner/util/time.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <regex>
#include <string_view>
#include <system_error>
#include <tuple>

namespace taskrunner::app {
namespace {

std::chrono::milliseconds seconds_var(const util::EnvMap& env, const std::string& var,
                                      std::chrono::milliseconds fallback) {
  const auto v = util::get(env, var);
  if (!v) return fallback;
  const auto ms = util::parse_seconds_ms(*v);
  if (!ms) throw SettingsError(var, ms.error());
  return std::chrono::milliseconds(*ms);
}

}  // namespace

std::pair<std::string, std::string> trace_context(const util::EnvMap& env) {
  static const std::regex kTraceparent("^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$");
  std::smatch m;
  const auto tp = util::get(env, "TRACEPARENT");
  if (tp && std::regex_match(*tp, m, kTraceparent)) return {m[1].str(), m[2].str()};
  return {};
}

std::optional<std::filesystem::path> termination_log_path(const util::EnvMap& env) {
  if (auto t = util::get(env, "TASKRUNNER_TERMINATION_LOG")) return std::filesystem::path(*t);
  if (::access("/dev/termination-log", W_OK) == 0) return "/dev/termination-log";
  return std::nullopt;
}

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
  s.nixpkgs = util::get(env, "TASKRUNNER_NIXPKGS").value_or("");
  if (!s.nixpkgs.empty() && !s.nixpkgs.starts_with("/") && !s.nixpkgs.starts_with("http://") &&
      !s.nixpkgs.starts_with("https://") && !s.nixpkgs.starts_with("file://")) {
    throw SettingsError("TASKRUNNER_NIXPKGS", "'" + s.nixpkgs +
                                                  "' must be an absolute path or an http(s):// or "
                                                  "file:// URL of a nixpkgs tarball");
  }
  if (s.nixpkgs.find_first_of("\n\r") != std::string::npos) {
    throw SettingsError("TASKRUNNER_NIXPKGS", "must be a single line");
  }
  s.env_cache = util::get(env, "TASKRUNNER_ENV_CACHE").value_or("/root/.cache/taskrunner");
  if (!s.env_cache.is_absolute()) {
    throw SettingsError("TASKRUNNER_ENV_CACHE", "'" + s.env_cache.string() + "' must be absolute");
  }
  const auto inside =
      s.env_cache.lexically_normal().lexically_relative(s.uv_cache_dir.lexically_normal());
  if (!inside.empty() && !inside.string().starts_with("..")) {
    throw SettingsError("TASKRUNNER_ENV_CACHE", "'" + s.env_cache.string() +
                                                    "' must not be inside UV_CACHE_DIR (uv "
                                                    "owns and cleans that directory)");
  }
  if (auto m = util::get(env, "TASKRUNNER_ENV_MODE")) {
    const auto mode = environment::parse_env_mode(*m);
    if (!mode) {
      throw SettingsError("TASKRUNNER_ENV_MODE",
                          "'" + *m + "' is not one of off, snapshot, inplace, auto");
    }
    s.env_mode = *mode;
  }
  if (auto r = util::get(env, "TASKRUNNER_NIX_ROOTS")) {
    if (!r->starts_with("/")) {
      throw SettingsError("TASKRUNNER_NIX_ROOTS", "'" + *r + "' must be an absolute path");
    }
    s.nix_roots = *r;
  }
  s.install_timeout = seconds_var(env, "TASKRUNNER_INSTALL_TIMEOUT", s.install_timeout);
  if (util::get(env, "TASKRUNNER_CODE_TIMEOUT")) {
    s.code_timeout = seconds_var(env, "TASKRUNNER_CODE_TIMEOUT", {});
  }
  s.grace = seconds_var(env, "TASKRUNNER_GRACE_SECONDS", s.grace);
  if (auto k = util::get(env, "TASKRUNNER_CACHE_KEY_FILE"); k && !k->empty()) {
    auto key = environment::read_cache_key(*k);
    if (!key) throw SettingsError("TASKRUNNER_CACHE_KEY_FILE", key.error());
    s.cache_key = std::move(*key);
  }
  if (util::get(env, "TASKRUNNER_RESOLVE_MAX_AGE")) {
    s.resolve_max_age = seconds_var(env, "TASKRUNNER_RESOLVE_MAX_AGE", {});
  }
  s.pushgateway_url = util::get(env, "TASKRUNNER_PUSHGATEWAY_URL");
  if (s.pushgateway_url && s.pushgateway_url->empty()) s.pushgateway_url.reset();
  s.pushgateway_timeout = seconds_var(env, "TASKRUNNER_PUSHGATEWAY_TIMEOUT", s.pushgateway_timeout);
  s.template_name = util::get(env, "TASKRUNNER_TEMPLATE_NAME").value_or("");
  if (util::get(env, "ARGO_TERMINATION_GRACE_PERIOD_SECONDS")) {
    const auto k8s = seconds_var(env, "ARGO_TERMINATION_GRACE_PERIOD_SECONDS", {});
    s.grace = std::max(std::chrono::milliseconds(500), k8s - kGraceMargin);
  }
  if (auto d = util::get(env, "ARGO_DEADLINE")) {
    s.deadline = util::parse_rfc3339(*d);
    if (!s.deadline)
      throw SettingsError("ARGO_DEADLINE",
                          "'" + *d + "' is not an RFC 3339 time on a real date from 1970 to " +
                              std::to_string(util::kMaxYear));
  }
  if (auto p = util::get(env, "ARGO_PROGRESS_FILE")) s.progress_file = *p;
  s.termination_log = termination_log_path(env);
  if (auto e = util::get(env, "TASKRUNNER_PASS_INDEX_CREDENTIALS")) {
    const auto b = util::parse_bool(*e);
    if (!b)
      throw SettingsError("TASKRUNNER_PASS_INDEX_CREDENTIALS", "'" + *e + "' is not true or false");
    s.pass_index_credentials = *b;
  }
  if (auto e = util::get(env, "TASKRUNNER_EXEC")) {
    const auto b = util::parse_bool(*e);
    if (!b) throw SettingsError("TASKRUNNER_EXEC", "'" + *e + "' is not true or false");
    s.exec = *b;
  }
  s.network_timeout = seconds_var(env, "TASKRUNNER_NETWORK_TIMEOUT", s.network_timeout);
  if (::geteuid() == 0) s.run_as = execution::kDefaultRunAs;
  if (auto v = util::get(env, "TASKRUNNER_RUN_AS")) {
    auto parsed = execution::parse_run_as(*v);
    if (!parsed) throw SettingsError("TASKRUNNER_RUN_AS", parsed.error());
    s.run_as = *parsed;
    if (s.run_as && ::geteuid() != 0) {
      if (s.run_as->uid != ::geteuid() || s.run_as->gid != ::getegid()) {
        throw SettingsError("TASKRUNNER_RUN_AS",
                            "changing the uid needs taskrunner started as root (it runs as uid " +
                                std::to_string(::geteuid()) + "): set it to off or unset it");
      }
      s.run_as.reset();  // already that uid: nothing to drop
    }
  }
  if (auto v = util::get(env, "TASKRUNNER_INSTALL_RETRIES")) {
    if (v->size() != 1 || !std::isdigit(static_cast<unsigned char>((*v)[0]))) {
      throw SettingsError("TASKRUNNER_INSTALL_RETRIES", "'" + *v + "' is not a number from 0 to 9");
    }
    s.install_retries = (*v)[0] - '0';
  }
  if (auto v = util::get(env, "TASKRUNNER_MIN_FREE_MB")) {
    // At most 16 TiB: the byte count can never overflow.
    const auto mb = util::parse_uint(*v, std::uint64_t{16} * 1024 * 1024);
    if (!mb) throw SettingsError("TASKRUNNER_MIN_FREE_MB", mb.error() + " (MiB)");
    s.min_free_bytes = *mb * 1024 * 1024;
  }
  return s;
}

}  // namespace taskrunner::app
