#pragma once
// Resolving the base Python interpreter that venvs are made from.
#include <filesystem>
#include <optional>
#include <string>

#include "taskrunner/execution/process.hpp"
#include "taskrunner/tools/probe_record.hpp"

#include "taskrunner/util/result.hpp"

namespace taskrunner::tools {

/// The real interpreter behind TASKRUNNER_PYTHON.
struct Interpreter {
  std::filesystem::path requested;  ///< what TASKRUNNER_PYTHON named, after the PATH search
  std::filesystem::path
      executable;           ///< its sys.executable (a pyenv shim resolves to the real binary)
  std::string version;      ///< platform.python_version(), e.g. "3.11.7"
  bool has_pip = false;     ///< `import pip` works in the base interpreter
  bool from_cache = false;  ///< true when no interpreter had to be started
};

/// Where resolve_interpreter() remembers its answers besides `<work_dir>/python-resolve.json`.
using SharedInterpreterRecords = SharedProbeRecords;

/// Finds `name` on PATH (or uses it as a path), then asks it once for sys.executable, its
/// version and whether it has pip, and remembers the answer in `<work_dir>/python-resolve.json`
/// keyed by the requested file's path, size, mtime, ctime and $PYENV_VERSION — so a warm run
/// starts no extra interpreter (a start costs 10–60 ms; a pyenv shim more). With `shared.dir`
/// the answer is also kept there, one file per key (`<sha256 of the key>.json`), and read when
/// the work dir has none. A shared record is used only when its key matches, its executable is
/// the requested file itself or the file that path resolves to (a record can never redirect a
/// run to another program), its version looks like one (`3.11.2`) and, with a signing key, its
/// `mac` is valid; otherwise the interpreter is probed and the record rewritten. Writing a
/// record never fails the call. Fails when there is no such interpreter or it does not answer
/// (30 s limit).
util::Result<Interpreter> resolve_interpreter(const std::string& name, const util::EnvMap& env,
                                              const std::filesystem::path& work_dir,
                                              execution::ProcessRunner& runner,
                                              const SharedInterpreterRecords& shared = {});

}  // namespace taskrunner::tools
