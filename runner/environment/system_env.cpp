#include "taskrunner/environment/system_env.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "taskrunner/util/hash.hpp"

namespace taskrunner::environment {

std::string nix_system() {
  utsname u{};
  std::string machine = ::uname(&u) == 0 ? u.machine : "unknown";
  if (machine == "arm64") machine = "aarch64";
  return machine + "-linux";
}

std::string system_env_key(const SystemEnvRequest& request) {
  auto attrs = request.attrs;
  std::sort(attrs.begin(), attrs.end());
  attrs.erase(std::unique(attrs.begin(), attrs.end()), attrs.end());
  const nlohmann::json j = {{"format", kSystemEnvFormat},
                            {"nixpkgs", request.nixpkgs},
                            {"nix_path", request.nixpkgs.empty() ? request.nix_path : ""},
                            {"attrs", attrs},
                            {"system", request.system}};
  return util::sha256_hex(j.dump());
}

std::string_view system_env_expression() {
  // builtins only, so any nixpkgs (or a fixture with the same buildEnv signature) works.
  return R"nix({ nixpkgs, attrs, system }:
let
  src =
    if nixpkgs == "" then <nixpkgs>
    else if builtins.match "[a-z+]+://.*" nixpkgs != null then builtins.fetchTarball nixpkgs
    else /. + nixpkgs;
  pkgs = import src { inherit system; };
  names = builtins.filter (x: builtins.isString x && x != "") (builtins.split " " attrs);
  lookup = name: builtins.foldl'
    (acc: part: if acc != null && builtins.isAttrs acc && builtins.hasAttr part acc
                then builtins.getAttr part acc else null)
    pkgs (builtins.filter builtins.isString (builtins.split "[.]" name));
  pick = name:
    let v = lookup name;
    in if v == null then throw "taskrunner: unknown attribute '${name}' in nixpkgs" else v;
in pkgs.buildEnv { name = "taskrunner-system-deps"; paths = map pick names; }
)nix";
}

std::vector<std::string> nix_build_args(const SystemEnvRequest& request,
                                        const std::filesystem::path& out_link) {
  std::string attrs;
  for (const auto& a : request.attrs) attrs += (attrs.empty() ? "" : " ") + a;
  return {"--out-link",    out_link.string(),
          "--expr",        std::string(system_env_expression()),
          "--argstr",      "nixpkgs",
          request.nixpkgs, "--argstr",
          "attrs",         attrs,
          "--argstr",      "system",
          request.system};
}

std::optional<std::filesystem::path> valid_root(const tools::NixTool& tool, const util::EnvMap& env,
                                                const std::filesystem::path& out_link) {
  std::error_code ec;
  const auto target = std::filesystem::read_symlink(out_link, ec);
  if (ec || !target.is_absolute()) return std::nullopt;
  if (!std::filesystem::is_directory(tools::reachable_path(tool, env, target), ec)) {
    return std::nullopt;
  }
  return target;
}

std::optional<std::string> unknown_attribute(std::string_view output) {
  constexpr std::string_view kMarker = "taskrunner: unknown attribute '";
  const auto at = output.rfind(kMarker);
  if (at == std::string_view::npos) return std::nullopt;
  const auto start = at + kMarker.size();
  const auto end = output.find('\'', start);
  if (end == std::string_view::npos) return std::nullopt;
  return std::string(output.substr(start, end - start));
}

execution::Command use_system_env(execution::Command user, const tools::NixTool& tool,
                                  const util::EnvMap& env, const std::filesystem::path& store_path,
                                  const std::filesystem::path& venv) {
  if (tool.mode() == tools::StoreMode::native) {
    const auto rest = util::get(env, "PATH");
    user.env["PATH"] =
        (venv / "bin").string() + ":" + (store_path / "bin").string() + (rest ? ":" + *rest : "");
    return user;
  }
  std::vector<std::string> args = {
      "--extra-experimental-features", "nix-command", "shell", store_path.string(), "--command",
      user.executable.string()};
  args.insert(args.end(), user.args.begin(), user.args.end());
  auto wrapped = tools::nix_command(tool, "nix", std::move(args), user.env);
  wrapped.cwd = user.cwd;
  return wrapped;
}

std::filesystem::path default_roots_dir(const tools::NixTool& tool, const util::EnvMap& env) {
  if (tool.mode() == tools::StoreMode::portable) {
    return tools::np_location(env) / ".nix-portable/taskrunner-roots";
  }
  return "/nix/var/nix/gcroots/taskrunner";
}

}  // namespace taskrunner::environment
