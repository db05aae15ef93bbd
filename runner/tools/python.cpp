#include "taskrunner/tools/python.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "taskrunner/util/fs.hpp"

namespace taskrunner::tools {
namespace {

constexpr const char* kProbe =
    "import sys, platform; print(sys.executable); print(platform.python_version())";

std::string cache_key(const std::filesystem::path& p, const util::EnvMap& env) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return {};
  return p.string() + "|" + std::to_string(st.st_size) + "|" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "|" +
         util::get(env, "PYENV_VERSION").value_or("");
}

}  // namespace

std::optional<Interpreter> resolve_interpreter(const std::string& name, const util::EnvMap& env,
                                               const std::filesystem::path& work_dir,
                                               execution::ProcessRunner& runner,
                                               std::string& error) {
  const auto found = execution::find_on_path(name, util::get(env, "PATH").value_or(""));
  if (!found) {
    error = "no Python interpreter '" + name + "' (searched PATH)";
    return std::nullopt;
  }
  Interpreter interp;
  interp.requested = std::filesystem::absolute(*found);
  const auto cache_file = work_dir / "python-resolve.json";
  const auto key = cache_key(interp.requested, env);

  std::string ignored;
  if (auto text = util::read_file(cache_file, ignored, 65536)) {
    const auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (doc.is_object() && doc.value("key", "") == key && !key.empty()) {
      const std::filesystem::path exe = doc.value("executable", "");
      if (!exe.empty() && ::access(exe.c_str(), X_OK) == 0) {
        interp.executable = exe;
        interp.version = doc.value("version", "");
        interp.from_cache = true;
        return interp;
      }
    }
  }

  execution::Command cmd{interp.requested, {"-c", kProbe}, env, std::nullopt};
  execution::RunOptions opts;
  opts.tee = false;
  opts.capture_limit = 8192;
  opts.timeout = std::chrono::seconds(30);
  opts.grace = std::chrono::seconds(1);
  const auto r = runner.run(cmd, opts);
  if (!r.started || r.exit_code != 0) {
    error = "Python interpreter " + interp.requested.string() + " did not start" +
            (r.started ? " (exit code " + std::to_string(r.exit_code) + "): " + r.output_tail
                       : ": " + r.start_error);
    return std::nullopt;
  }
  const auto nl = r.captured_stdout.find('\n');
  interp.executable = r.captured_stdout.substr(0, nl);
  if (nl != std::string::npos) {
    auto v = r.captured_stdout.substr(nl + 1);
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    interp.version = v;
  }
  if (interp.executable.empty()) interp.executable = interp.requested;
  if (!key.empty()) {
    const nlohmann::json doc = {{"key", key},
                                {"executable", interp.executable.string()},
                                {"version", interp.version}};
    (void)util::write_file_atomic(cache_file, doc.dump() + "\n");
  }
  return interp;
}

}  // namespace taskrunner::tools
