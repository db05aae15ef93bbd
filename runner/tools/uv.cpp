#include "taskrunner/tools/uv.hpp"

namespace taskrunner::tools {

util::Result<Installer> find_installer(const std::optional<std::string>& explicit_path,
                                       const std::filesystem::path& tools_dir,
                                       const std::string& path_var, const util::EnvMap& env,
                                       execution::ProcessRunner& runner) {
  Installer inst;
  std::optional<std::filesystem::path> uv;
  if (explicit_path) {
    uv = execution::find_on_path(*explicit_path, path_var);
    if (!uv) {
      return util::Status{"TASKRUNNER_UV names '" + *explicit_path +
                          "', which is not an executable file"};
    }
    inst.source = "TASKRUNNER_UV";
  } else if ((uv = execution::find_on_path((tools_dir / "uv").string(), path_var))) {
    inst.source = "tools_dir";
  } else if ((uv = execution::find_on_path("uv", path_var))) {
    inst.source = "PATH";
  }
  if (!uv) return inst;  // pip fallback

  const auto r = execution::run_probe(runner, {*uv, {"--version"}, env, std::nullopt, std::nullopt},
                                      4096, std::chrono::seconds(10));
  if (!r.started || r.exit_code != 0) {
    const auto why = "uv at " + uv->string() + " does not run (`uv --version` " +
                     (r.started ? "exited with " + std::to_string(r.exit_code) : r.start_error) +
                     ")";
    if (explicit_path) return util::Status{why};
    Installer pip;  // a broken uv found by search: fall back to pip, the caller reports it
    pip.fallback_reason = why;
    return pip;
  }
  inst.kind = InstallerKind::uv;
  inst.uv = std::filesystem::absolute(*uv);
  inst.version = r.captured_stdout.substr(0, r.captured_stdout.find('\n'));
  return inst;
}

}  // namespace taskrunner::tools
