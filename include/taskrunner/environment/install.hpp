#pragma once
// `venv` and `python_deps`: the exact commands and environment given to uv or pip.
// uv environment variables: https://docs.astral.sh/uv/reference/environment/ ;
// pip's: https://pip.pypa.io/en/stable/topics/configuration/#environment-variables
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "taskrunner/environment/link_mode.hpp"
#include "taskrunner/execution/process.hpp"
#include "taskrunner/report/hints.hpp"
#include "taskrunner/tools/uv.hpp"

namespace taskrunner::environment {

/// Everything that decides how the installer is invoked.
struct InstallContext {
  tools::Installer installer;
  std::filesystem::path base_python;  ///< resolved interpreter (sys.executable)
  std::string python_version;         ///< its version ("3.11.2"), for the lock's header
  bool base_has_pip = false;          ///< pip path: reuse the base's pip (no ensurepip)
  std::filesystem::path venv;         ///< where the venv goes
  std::optional<std::filesystem::path> cache_dir;  ///< nullopt: run without cache
  LinkMode link_mode = LinkMode::copy;   ///< UV_LINK_MODE (choose_link_mode) when there is a cache
  std::optional<std::string> index_url;  ///< may carry credentials: env only, never argv
  bool progress = false;                 ///< stderr is a terminal
  util::EnvMap base_env;                 ///< the environment to start from
};

/// Whether the pod's variable `name` reaches the installer. Every PIP_* and UV_* variable is
/// dropped (it could change what is installed without changing the environment cache's key:
/// PIP_FIND_LINKS, UV_EXTRA_INDEX_URL, UV_PRERELEASE, …) except the transport settings
/// UV_HTTP_TIMEOUT, UV_HTTP_RETRIES, UV_CONCURRENT_{DOWNLOADS,BUILDS,INSTALLS}, UV_NATIVE_TLS,
/// PIP_TIMEOUT, PIP_DEFAULT_TIMEOUT, PIP_RETRIES, PIP_CERT, PIP_CLIENT_CERT, PIP_PROXY
/// (README "Installer configuration"). Any other variable passes.
bool passes_to_installer(std::string_view name);

/// The installer's environment. uv: UV_CACHE_DIR (or UV_NO_CACHE=1), UV_PYTHON_DOWNLOADS=never,
/// UV_LINK_MODE=<ctx.link_mode> with a cache (taskrunner's choice replaces any inherited value),
/// UV_NO_PROGRESS=1 when stderr is not a terminal, UV_DEFAULT_INDEX and UV_INDEX_URL (older uv) for
/// the index. pip: PIP_CACHE_DIR=<cache>/pip, PIP_INDEX_URL, PIP_DISABLE_PIP_VERSION_CHECK=1,
/// PIP_NO_INPUT=1. Both: only the variables passes_to_installer() lets through, plus
/// PIP_CONFIG_FILE=/dev/null and UV_NO_CONFIG=1 (no pip.conf or uv.toml is read either).
/// The index URL travels only in the environment so it never shows in argv or logs.
util::EnvMap installer_env(const InstallContext& ctx);

/// `uv venv <venv> --python <base>`; for pip `<base> -m venv --clear [--without-pip] <venv>`:
/// when the base interpreter has pip, the venv gets none (ensurepip costs seconds) and the base's
/// pip installs into it with `--python` (pip ≥ 22.3).
execution::Command venv_command(const InstallContext& ctx);

/// How one install runs.
struct InstallFlags {
  /// Installs a lock exactly: `--require-hashes --no-deps` (pip's hash-checking mode,
  /// https://pip.pypa.io/en/stable/topics/secure-installs/; uv accepts the same flags).
  bool pinned = false;
  /// pip only: `--report FILE`, the installation report (pip ≥ 22.2,
  /// https://pip.pypa.io/en/stable/reference/installation-report/) the lock is read from.
  std::optional<std::filesystem::path> report;
  /// pip only: `--no-compile` — no bytecode at install time, because the venv is about to be
  /// published to the environment cache, which compiles it once with hash-based invalidation
  /// (PEP 552; steps/env_cache.cpp publish_env). uv compiles nothing unless asked.
  bool no_compile = false;
};

/// `uv pip install --python <venv>/bin/python -r <file> [--require-hashes --no-deps]` or
/// `<base> -m pip --python <venv>/bin/python install -r <file> [--no-cache-dir]
/// [--progress-bar off] [--require-hashes --no-deps] [--report FILE] [--no-compile]` (or
/// `<venv>/bin/python -m pip …` when the base has no pip).
execution::Command install_command(const InstallContext& ctx,
                                   const std::filesystem::path& requirements_file,
                                   const InstallFlags& flags = {});

/// Resolution without installing, for a lock: uv `pip compile <file> --python <python>
/// --generate-hashes --no-header --no-annotate --quiet -o <output>` (a requirements file with
/// hashes, https://docs.astral.sh/uv/pip/compile/); pip `<base> -m pip install --dry-run
/// --ignore-installed --quiet --report <output> -r <file>` (an installation report). `refresh`
/// adds uv's `--refresh` (revalidate cached index pages; pip always revalidates them). nullopt for
/// pip when the base interpreter has no pip.
std::optional<execution::Command> resolve_command(const InstallContext& ctx,
                                                  const std::filesystem::path& requirements_file,
                                                  const std::filesystem::path& python,
                                                  const std::filesystem::path& output,
                                                  bool refresh = false);

/// A failed install, explained.
struct InstallFailure {
  std::string message;
  std::string hint;
  std::optional<std::string> package;      ///< the requirement the installer could not find
  std::optional<report::Failure> failure;  ///< the known failure (docs/hints.md), if recognised
  bool transient = false;  ///< a network hiccup worth retrying (connection reset, timeout, 5xx)
};

/// True when a child's output reports a full volume: ENOSPC or EDQUOT in Python's or Rust's
/// wording ("No space left on device", "[Errno 28]", "os error 28", "Disk quota exceeded").
bool output_says_no_space(std::string_view output);

/// Reads the installer's last output for known failures in both pip's and uv's wording:
/// a full volume first (no_space), then transient network errors (connection reset or aborted, read
/// timeout, HTTP 5xx — worth a retry), then unknown package, no matching version, resolution
/// conflict, sdist build failure.
InstallFailure diagnose_install_failure(std::string_view output_tail, int exit_code,
                                        const std::string& redacted_index);

/// Number of distributions installed in `venv` (its *.dist-info directories).
std::size_t count_installed(const std::filesystem::path& venv);

}  // namespace taskrunner::environment
