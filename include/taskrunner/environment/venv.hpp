#pragma once
// `venv`: a PEP 405 virtual environment written directly, without starting Python or uv.
// A virtual environment is a directory with a `pyvenv.cfg` whose `home` key names the directory
// of the base interpreter, and a `bin/python` that links to that interpreter; Python finds the
// file at startup and takes its prefix from it (PEP 405, https://peps.python.org/pep-0405/;
// the layout is the one CPython's `venv` module writes on POSIX,
// https://docs.python.org/3/library/venv.html).
#include <filesystem>
#include <optional>
#include <string>

#include "taskrunner/environment/install.hpp"
#include "taskrunner/util/result.hpp"

namespace taskrunner::environment {

/// What the venv is made of, taken from the interpreter probe.
struct VenvLayout {
  std::filesystem::path dir;          ///< the venv; must not exist yet
  std::filesystem::path base_python;  ///< absolute sys.executable of the base interpreter
  std::string version;                ///< its full version, "3.11.2"
  std::string major_minor;            ///< "3.11": names lib/python3.11 and bin/python3.11
  std::string major;                  ///< "3": names bin/python3
};

/// The layout for `ctx`, or nullopt when the venv must come from `venv_command(ctx)` instead:
/// - pip is the installer and the base interpreter has no pip: only `python -m venv` brings it
///   (ensurepip);
/// - the base interpreter is itself in a virtual environment (a `pyvenv.cfg` beside its
///   executable or one directory up, where Python looks for one): `python -m venv` follows
///   `sys._base_executable`, which the probe does not report;
/// - its path is not absolute, or its version does not start with "<major>.<minor>".
/// Reads two paths with stat(2); starts nothing.
std::optional<VenvLayout> native_venv_layout(const InstallContext& ctx);

/// Writes the venv `layout.dir` (its parents are created as needed, mode 0777 less the umask,
/// like `python -m venv`):
///   pyvenv.cfg        home = <dir of base_python>, include-system-site-packages = false,
///                     version = <version>, executable = <base_python>
///   bin/python<major> -> <base_python>;  bin/python, bin/python<major.minor> -> python<major>
///   lib/python<major.minor>/site-packages/, lib64 -> lib, include/
/// No activation scripts and no pip: taskrunner runs `bin/python` directly and installs with
/// the base's pip (`--python`) or with uv. Fails when `layout.dir` already exists (EEXIST) or
/// any step fails; the Status names the path with strerror and keeps the errno (ENOSPC and
/// EDQUOT mean the volume is full). What was written before a failure stays for the caller to
/// remove.
util::Status create_venv(const VenvLayout& layout);

}  // namespace taskrunner::environment
