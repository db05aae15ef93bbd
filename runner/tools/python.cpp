#include "taskrunner/tools/python.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "taskrunner/util/fs.hpp"

namespace taskrunner::tools {
namespace {

constexpr const char* kProbe =
    "import sys, platform, importlib.util; print(sys.executable); "
    "print(platform.python_version()); print(int(importlib.util.find_spec('pip') is not None))";

std::string cache_key(const std::filesystem::path& p, const util::EnvMap& env) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return {};
  return "v2|" + p.string() + "|" + std::to_string(st.st_size) + "|" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "|" +
         util::get(env, "PYENV_VERSION").value_or("");
}

}  // namespace

util::Result<Interpreter> resolve_interpreter(const std::string& name, const util::EnvMap& env,
                                              const std::filesystem::path& work_dir,
                                              execution::ProcessRunner& runner) {
  const auto found = execution::find_on_path(name, util::get(env, "PATH").value_or(""));
  if (!found) return util::Status{"no Python interpreter '" + name + "' (searched PATH)"};
  Interpreter interp;
  interp.requested = std::filesystem::absolute(*found);
  const auto cache_file = work_dir / "python-resolve.json";
  const auto key = cache_key(interp.requested, env);

  if (auto text = util::read_file(cache_file, 65536)) {
    const auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (doc.is_object() && doc.value("key", "") == key && !key.empty()) {
      const std::filesystem::path exe = doc.value("executable", "");
      if (!exe.empty() && ::access(exe.c_str(), X_OK) == 0) {
        interp.executable = exe;
        interp.version = doc.value("version", "");
        interp.has_pip = doc.value("has_pip", false);
        interp.from_cache = true;
        return interp;
      }
    }
  }

  const auto r = execution::run_probe(
      runner, {interp.requested, {"-c", kProbe}, env, std::nullopt, std::nullopt}, 8192,
      std::chrono::seconds(30));
  if (!r.started || r.exit_code != 0) {
    return util::Status{"Python interpreter " + interp.requested.string() + " did not start" +
                        (r.started
                             ? " (exit code " + std::to_string(r.exit_code) + "): " + r.output_tail
                             : ": " + r.start_error)};
  }
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < r.captured_stdout.size()) {
    const auto nl = r.captured_stdout.find('\n', pos);
    lines.push_back(r.captured_stdout.substr(pos, nl == std::string::npos ? nl : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  if (!lines.empty()) interp.executable = lines[0];
  if (lines.size() > 1) interp.version = lines[1];
  interp.has_pip = lines.size() > 2 && lines[2] == "1";
  if (interp.executable.empty()) interp.executable = interp.requested;
  if (!key.empty()) {
    const nlohmann::json doc = {{"key", key},
                                {"executable", interp.executable.string()},
                                {"version", interp.version},
                                {"has_pip", interp.has_pip}};
    (void)util::write_file_atomic(cache_file, doc.dump() + "\n");
  }
  return interp;
}

}  // namespace taskrunner::tools
