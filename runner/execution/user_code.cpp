#include "taskrunner/execution/user_code.hpp"

namespace taskrunner::execution {

Command user_code_command(const spec::TaskSpec& spec, const std::filesystem::path& venv,
                          const util::EnvMap& base_env) {
  Command c;
  c.executable = venv / "bin" / "python";
  if (spec.code) {
    c.args = {"-c", *spec.code};
  } else {
    c.args = {spec.code_file->string()};
  }
  c.args.insert(c.args.end(), spec.args.begin(), spec.args.end());
  c.env = base_env;
  c.env.erase("PYTHONHOME");
  c.env["PYTHONUNBUFFERED"] = "1";
  c.env["VIRTUAL_ENV"] = venv.string();
  const auto path = util::get(base_env, "PATH");
  c.env["PATH"] = (venv / "bin").string() + (path ? ":" + *path : "");
  return c;
}

}  // namespace taskrunner::execution
