#include "taskrunner/tools/nix.hpp"

namespace taskrunner::tools {

std::optional<NixTool> find_nix(const std::optional<std::string>& explicit_path,
                                const std::filesystem::path& tools_dir,
                                const std::string& path_var) {
  using execution::find_on_path;
  if (explicit_path) {
    if (auto p = find_on_path(*explicit_path, path_var)) {
      return NixTool{*p, "nix-portable", "TASKRUNNER_NIX_PORTABLE"};
    }
    return std::nullopt;
  }
  if (auto p = find_on_path((tools_dir / "nix-portable").string(), path_var)) {
    return NixTool{*p, "nix-portable", "tools_dir"};
  }
  if (auto p = find_on_path("nix-portable", path_var)) return NixTool{*p, "nix-portable", "PATH"};
  if (auto p = find_on_path("nix", path_var)) return NixTool{*p, "nix", "PATH"};
  return std::nullopt;
}

std::filesystem::path np_location(const util::EnvMap& env) {
  if (auto v = util::get(env, "NP_LOCATION"); v && !v->empty()) return *v;
  if (auto h = util::get(env, "HOME"); h && !h->empty()) return *h;
  return "/";
}

std::filesystem::path real_store_dir(const NixTool& tool, const util::EnvMap& env) {
  if (tool.mode() == StoreMode::portable) return np_location(env) / ".nix-portable/nix/store";
  if (auto v = util::get(env, "NIX_STORE_DIR"); v && !v->empty()) return *v;
  return "/nix/store";
}

std::filesystem::path reachable_path(const NixTool& tool, const util::EnvMap& env,
                                     const std::filesystem::path& store_path) {
  if (tool.mode() == StoreMode::native) return store_path;
  return real_store_dir(tool, env) / store_path.filename();
}

execution::Command nix_command(const NixTool& tool, std::string_view program,
                               std::vector<std::string> args, const util::EnvMap& env) {
  execution::Command c;
  c.env = env;
  if (tool.mode() == StoreMode::portable) {
    c.executable = tool.path;
    c.args.emplace_back(program);
    c.args.insert(c.args.end(), args.begin(), args.end());
    c.env["NP_LOCATION"] = np_location(env).string();
  } else {
    c.executable = tool.path.parent_path() / std::string(program);
    c.args = std::move(args);
  }
  return c;
}

std::filesystem::path portable_startup_lock(const util::EnvMap& env) {
  return np_location(env) / ".taskrunner-nix-portable.lock";
}

util::Result<std::string> nix_version(const NixTool& tool, const util::EnvMap& env,
                                      execution::ProcessRunner& runner,
                                      std::chrono::milliseconds timeout) {
  const auto cmd = nix_command(tool, "nix", {"--version"}, env);
  const auto r = execution::run_probe(runner, cmd, 4096, timeout);
  if (!r.started) return util::Status{r.start_error};
  if (r.timed_out || r.exit_code != 0) {
    return util::Status{
        cmd.executable.string() + " nix --version " +
        (r.timed_out ? "did not answer within " + std::to_string(timeout.count() / 1000) + " s"
                     : "failed with exit code " + std::to_string(r.exit_code)) +
        (r.output_tail.empty() ? "" : ": " + r.output_tail.substr(0, 400))};
  }
  auto line = r.captured_stdout.substr(0, r.captured_stdout.find('\n'));
  return line;
}

}  // namespace taskrunner::tools
