#include "taskrunner/environment/install.hpp"

#include <algorithm>
#include <array>
#include <regex>

namespace taskrunner::environment {

bool passes_to_installer(std::string_view name) {
  if (!name.starts_with("PIP_") && !name.starts_with("UV_")) return true;
  // Transport only: how to reach the one index, never what is installed.
  static constexpr std::array<std::string_view, 14> kTransport = {"UV_HTTP_TIMEOUT",
                                                                  "UV_HTTP_RETRIES",
                                                                  "UV_CONCURRENT_DOWNLOADS",
                                                                  "UV_CONCURRENT_BUILDS",
                                                                  "UV_CONCURRENT_INSTALLS",
                                                                  "UV_NATIVE_TLS",
                                                                  "PIP_TIMEOUT",
                                                                  "PIP_DEFAULT_TIMEOUT",
                                                                  "PIP_RETRIES",
                                                                  "PIP_CERT",
                                                                  "PIP_CLIENT_CERT",
                                                                  "PIP_PROXY",
                                                                  "PIP_TRUSTED_HOST",
                                                                  "UV_INSECURE_HOST"};
  return std::find(kTransport.begin(), kTransport.end(), name) != kTransport.end();
}

util::EnvMap installer_env(const InstallContext& ctx) {
  util::EnvMap env;
  for (const auto& [k, v] : ctx.base_env) {
    if (passes_to_installer(k)) env[k] = v;
  }
  env.erase("VIRTUAL_ENV");
  env.erase("PYTHONHOME");
  // Configuration files would change resolution behind the key's back, like the variables.
  env["PIP_CONFIG_FILE"] = "/dev/null";
  env["UV_NO_CONFIG"] = "1";
  if (ctx.installer.kind == tools::InstallerKind::uv) {
    if (ctx.cache_dir) {
      env["UV_CACHE_DIR"] = ctx.cache_dir->string();
      env["UV_LINK_MODE"] = std::string(to_string(ctx.link_mode));
      env.erase("UV_NO_CACHE");
    } else {
      env.erase("UV_CACHE_DIR");
      env["UV_NO_CACHE"] = "1";
      env.erase("UV_LINK_MODE");
    }
    env["UV_PYTHON_DOWNLOADS"] = "never";
    if (!ctx.progress) env["UV_NO_PROGRESS"] = "1";
    if (ctx.index_url) {
      env["UV_DEFAULT_INDEX"] = *ctx.index_url;
      env["UV_INDEX_URL"] = *ctx.index_url;
    }
  } else {
    if (ctx.cache_dir) env["PIP_CACHE_DIR"] = (*ctx.cache_dir / "pip").string();
    if (ctx.index_url) env["PIP_INDEX_URL"] = *ctx.index_url;
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1";
    env["PIP_NO_INPUT"] = "1";
  }
  return env;
}

namespace {

void pip_common_args(const InstallContext& ctx, std::vector<std::string>& args) {
  if (!ctx.cache_dir) args.emplace_back("--no-cache-dir");
  if (!ctx.progress) {
    args.emplace_back("--progress-bar");
    args.emplace_back("off");
  }
}

}  // namespace

execution::Command venv_command(const InstallContext& ctx) {
  execution::Command c;
  c.env = installer_env(ctx);
  if (ctx.installer.kind == tools::InstallerKind::uv) {
    c.executable = ctx.installer.uv;
    c.args = {"venv", ctx.venv.string(), "--python", ctx.base_python.string()};
  } else {
    c.executable = ctx.base_python;
    c.args = {"-m", "venv", "--clear"};
    if (ctx.base_has_pip) c.args.emplace_back("--without-pip");
    c.args.push_back(ctx.venv.string());
  }
  return c;
}

execution::Command install_command(const InstallContext& ctx,
                                   const std::filesystem::path& requirements_file,
                                   const InstallFlags& flags) {
  execution::Command c;
  c.env = installer_env(ctx);
  const auto venv_python = ctx.venv / "bin" / "python";
  if (ctx.installer.kind == tools::InstallerKind::uv) {
    c.executable = ctx.installer.uv;
    c.args = {"pip", "install", "--python", venv_python.string(), "-r", requirements_file.string()};
    if (flags.pinned) {
      c.args.emplace_back("--require-hashes");
      c.args.emplace_back("--no-deps");
    }
  } else {
    if (ctx.base_has_pip) {
      c.executable = ctx.base_python;
      c.args = {"-m",
                "pip",
                "--python",
                venv_python.string(),
                "install",
                "-r",
                requirements_file.string()};
    } else {
      c.executable = venv_python;
      c.args = {"-m", "pip", "install", "-r", requirements_file.string()};
    }
    pip_common_args(ctx, c.args);
    if (flags.pinned) {
      c.args.emplace_back("--require-hashes");
      c.args.emplace_back("--no-deps");
    }
    if (flags.report) {
      c.args.emplace_back("--report");
      c.args.push_back(flags.report->string());
    }
    if (flags.no_compile) c.args.emplace_back("--no-compile");
  }
  return c;
}

std::optional<execution::Command> resolve_command(const InstallContext& ctx,
                                                  const std::filesystem::path& requirements_file,
                                                  const std::filesystem::path& python,
                                                  const std::filesystem::path& output,
                                                  bool refresh) {
  execution::Command c;
  c.env = installer_env(ctx);
  if (ctx.installer.kind == tools::InstallerKind::uv) {
    c.executable = ctx.installer.uv;
    c.args = {"pip",         "compile",       requirements_file.string(),
              "--python",    python.string(), "--generate-hashes",
              "--no-header", "--no-annotate", "--quiet",
              "-o",          output.string()};
    // uv keeps index pages as long as their HTTP cache headers allow (PyPI: 10 minutes);
    // a re-resolution must see what the index serves now.
    if (refresh) c.args.emplace_back("--refresh");
    return c;
  }
  if (!ctx.base_has_pip) return std::nullopt;
  c.executable = ctx.base_python;
  c.args = {"-m",      "pip",      "install",       "--dry-run", "--ignore-installed",
            "--quiet", "--report", output.string(), "-r",        requirements_file.string()};
  pip_common_args(ctx, c.args);
  return c;
}

bool output_says_no_space(std::string_view output) {
  // Python: "[Errno 28] No space left on device"; uv (Rust): "(os error 28)"; quotas: EDQUOT.
  static const std::regex kNoSpace(
      R"(No space left on device|\[Errno 28\]|os error 28\)|Disk quota exceeded|os error 122\))");
  return std::regex_search(std::string(output), kNoSpace);
}

InstallFailure diagnose_install_failure(std::string_view output_tail, int exit_code,
                                        const std::string& redacted_index) {
  const std::string text(output_tail);
  std::smatch m;
  // pip: "No matching distribution found for nosuchpkg"; uv: "Because nosuchpkg was not found in
  // the package registry" / "nosuchpkg was not found in the package registry".
  static const std::regex kPipNotFound(
      R"(No matching distribution found for ([A-Za-z0-9][A-Za-z0-9._\-]*))");
  static const std::regex kUvNotFound(
      R"(([A-Za-z0-9][A-Za-z0-9._\-]*) was not found in the package registry)");
  static const std::regex kNoVersion(
      R"(Could not find a version that satisfies the requirement ([^\s]+) \(from versions: ([^)]*)\))");
  // pip: "THESE PACKAGES DO NOT MATCH THE HASHES …\n    six==1.16.0 from http://…"; uv: "Hash
  // mismatch for `six==1.16.0`".
  static const std::regex kPipHash(
      R"(DO NOT MATCH THE HASHES[^\n]*\n\s+([A-Za-z0-9][A-Za-z0-9._\-]*==[^\s]+) from)");
  static const std::regex kUvHash(R"(Hash mismatch for `([^`]+)`)");
  // uv: "Because there is no version of six==1.99 and you require six==1.99, …".
  static const std::regex kUvNoVersion(
      R"(there is no version of ([A-Za-z0-9][A-Za-z0-9._\-]*[^\s,]*))");
  static const std::regex kConflict(
      R"(ResolutionImpossible|No solution found when resolving|conflicting dependencies)");
  static const std::regex kBuild(
      R"(Failed to build|failed-wheel-build|Failed to build `|error: subprocess-exited-with-error)");

  static const std::regex kTransient(
      R"(HTTP error 5\d\d|\b5\d\d Server Error|Connection reset by peer|ConnectionResetError|)"
      R"(Read timed out|RemoteDisconnected|IncompleteRead|Connection aborted|error sending request|)"
      R"(operation timed out|connection reset|server error \(5\d\d|status code:? 5\d\d|)"
      R"(too many 5\d\d error responses|Max retries exceeded)");

  InstallFailure f;
  const auto known = [&](report::Failure failure, const std::string& extra) {
    f.failure = failure;
    f.hint = std::string(report::hint_for(failure).text) + extra;
  };
  if (output_says_no_space(text)) {
    f.message = "a volume filled up during the install (ENOSPC, exit code " +
                std::to_string(exit_code) + ")";
    known(report::Failure::no_space, "");
  } else if (std::regex_search(text, kTransient)) {
    f.transient = true;
    f.message = "the index connection failed while downloading (exit code " +
                std::to_string(exit_code) + ")";
    known(report::Failure::transient_network, "");
  } else if (std::regex_search(text, m, kPipHash) || std::regex_search(text, m, kUvHash)) {
    f.package = m[1].str();
    f.message =
        "the file the index served for " + *f.package + " does not match the sha256 the lock pins";
    known(report::Failure::hash_mismatch, "");
  } else if (std::regex_search(text, m, kNoVersion) && m[2].str() != "none") {
    f.package = m[1].str();
    f.message =
        "no version of '" + *f.package + "' on the index matches (available: " + m[2].str() + ")";
    known(report::Failure::unknown_package, "; or relax the version specifier for " + *f.package);
  } else if (std::regex_search(text, m, kPipNotFound) &&
             text.find("is not a trusted or secure host") != std::string::npos) {
    // pip ignores a plain-http index on any host but localhost unless it is trusted, then
    // reports every package as missing (found by tests/e2e/test_any_base.py).
    f.package = m[1].str();
    f.message = "pip ignored the index " + redacted_index +
                " (plain http to a host that is not trusted), so '" + *f.package +
                "' was not found";
    known(report::Failure::unknown_package,
          "; here the index was never read: serve it over https, or set PIP_TRUSTED_HOST to its "
          "host name");
  } else if (std::regex_search(text, m, kUvNotFound) || std::regex_search(text, m, kPipNotFound)) {
    f.package = m[1].str();
    f.message = "package '" + *f.package + "' was not found on the index " + redacted_index;
    known(report::Failure::unknown_package,
          " (its simple page: " + redacted_index + "/" + *f.package + "/)");
  } else if (std::regex_search(text, m, kUvNoVersion)) {
    f.package = m[1].str();
    f.message = "no version of '" + *f.package + "' on the index " + redacted_index + " matches";
    known(report::Failure::unknown_package, "; or relax the version specifier for " + *f.package);
  } else if (std::regex_search(text, kConflict)) {
    f.message = "the requirements conflict: no set of versions satisfies all of them";
    known(report::Failure::resolution_conflict, "");
  } else if (std::regex_search(text, kBuild)) {
    f.message = "a package had to be built from source and its build failed";
    known(report::Failure::sdist_build_failed, "");
  } else {
    f.message = "the installer exited with code " + std::to_string(exit_code);
    f.hint = "read the installer output above in the log (taskrunner.log in the results dir)";
  }
  return f;
}

std::size_t count_installed(const std::filesystem::path& venv) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& lib : std::filesystem::directory_iterator(venv / "lib", ec)) {
    const auto sp = lib.path() / "site-packages";
    for (const auto& e : std::filesystem::directory_iterator(sp, ec)) {
      if (e.path().extension() == ".dist-info") ++n;
    }
  }
  return n;
}

}  // namespace taskrunner::environment
