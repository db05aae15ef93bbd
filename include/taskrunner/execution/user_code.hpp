#pragma once
// `user_code`: the user's Python, run with the venv's interpreter.
#include <filesystem>

#include "taskrunner/execution/process.hpp"
#include "taskrunner/spec/task_spec.hpp"

namespace taskrunner::execution {

/// `<venv>/bin/python -c CODE ARGS…` or `<venv>/bin/python FILE ARGS…` (ARGS → sys.argv[1:]),
/// with PYTHONUNBUFFERED=1, VIRTUAL_ENV=<venv>, <venv>/bin first on PATH and PYTHONHOME unset
/// (as `activate` does).
Command user_code_command(const spec::TaskSpec& spec, const std::filesystem::path& venv,
                          const util::EnvMap& base_env);

}  // namespace taskrunner::execution
