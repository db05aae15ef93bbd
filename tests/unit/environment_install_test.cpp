#include "taskrunner/environment/install.hpp"

#include <gtest/gtest.h>

using namespace taskrunner::environment;
using taskrunner::tools::InstallerKind;

namespace {
InstallContext uv_ctx() {
  InstallContext c;
  c.installer.kind = InstallerKind::uv;
  c.installer.uv = "/cache/bin/uv";
  c.base_python = "/usr/bin/python3.11";
  c.venv = "/work/venv";
  c.cache_dir = "/cache";
  c.index_url = "https://u:p@idx/simple";
  c.link_mode = LinkMode::hardlink;
  c.base_env = {
      {"PATH", "/bin"}, {"VIRTUAL_ENV", "/old"}, {"UV_NO_CACHE", "1"}, {"UV_LINK_MODE", "symlink"}};
  return c;
}
}  // namespace

TEST(InstallerEnv, UvContract) {
  auto c = uv_ctx();
  auto env = installer_env(c);
  EXPECT_EQ(env.at("UV_CACHE_DIR"), "/cache");
  EXPECT_EQ(env.count("UV_NO_CACHE"), 0U);
  EXPECT_EQ(env.at("UV_PYTHON_DOWNLOADS"), "never");
  EXPECT_EQ(env.at("UV_NO_PROGRESS"), "1");
  EXPECT_EQ(env.at("UV_DEFAULT_INDEX"), "https://u:p@idx/simple");
  EXPECT_EQ(env.at("UV_INDEX_URL"), "https://u:p@idx/simple");
  EXPECT_EQ(env.at("UV_LINK_MODE"), "hardlink");
  EXPECT_EQ(env.count("VIRTUAL_ENV"), 0U);
  c.link_mode = LinkMode::clone;
  EXPECT_EQ(installer_env(c).at("UV_LINK_MODE"), "clone");
  c.progress = true;
  c.cache_dir.reset();
  c.base_env["UV_LINK_MODE"] = "symlink";
  env = installer_env(c);
  EXPECT_EQ(env.count("UV_LINK_MODE"), 0U);  // no cache: nothing to link from
  EXPECT_EQ(env.count("UV_NO_PROGRESS"), 0U);
  EXPECT_EQ(env.at("UV_NO_CACHE"), "1");
  EXPECT_EQ(env.count("UV_CACHE_DIR"), 0U);
}

TEST(InstallerCommands, UvArgvNeverCarriesTheIndex) {
  const auto c = uv_ctx();
  const auto v = venv_command(c);
  EXPECT_EQ(v.executable, std::filesystem::path("/cache/bin/uv"));
  EXPECT_EQ(v.args,
            (std::vector<std::string>{"venv", "/work/venv", "--python", "/usr/bin/python3.11"}));
  const auto i = install_command(c, "/work/requirements.txt");
  EXPECT_EQ(i.args, (std::vector<std::string>{"pip", "install", "--python", "/work/venv/bin/python",
                                              "-r", "/work/requirements.txt"}));
  for (const auto& a : i.args) EXPECT_EQ(a.find("idx"), std::string::npos);
}

TEST(InstallerCommands, PipFallback) {
  auto c = uv_ctx();
  c.installer = {};
  c.base_has_pip = true;
  auto env = installer_env(c);
  EXPECT_EQ(env.at("PIP_CACHE_DIR"), "/cache/pip");
  EXPECT_EQ(env.at("PIP_INDEX_URL"), "https://u:p@idx/simple");
  EXPECT_EQ(env.count("UV_PYTHON_DOWNLOADS"), 0U);
  EXPECT_EQ(venv_command(c).args,
            (std::vector<std::string>{"-m", "venv", "--clear", "--without-pip", "/work/venv"}));
  auto i = install_command(c, "/work/r.txt");
  EXPECT_EQ(i.executable, std::filesystem::path("/usr/bin/python3.11"));
  EXPECT_EQ(i.args,
            (std::vector<std::string>{"-m", "pip", "--python", "/work/venv/bin/python", "install",
                                      "-r", "/work/r.txt", "--progress-bar", "off"}));
  // A venv about to be published gets its bytecode from the environment cache, not from pip.
  InstallFlags no_compile;
  no_compile.no_compile = true;
  EXPECT_EQ(install_command(c, "/work/r.txt", no_compile).args.back(), "--no-compile");
  c.base_has_pip = false;
  c.cache_dir.reset();
  EXPECT_EQ(venv_command(c).args,
            (std::vector<std::string>{"-m", "venv", "--clear", "/work/venv"}));
  i = install_command(c, "/work/r.txt");
  EXPECT_EQ(i.executable, std::filesystem::path("/work/venv/bin/python"));
  EXPECT_NE(std::find(i.args.begin(), i.args.end(), "--no-cache-dir"), i.args.end());
}

// pip ignores a plain-http index whose host is not trusted and then says every package is
// missing (pip 23.0.1's wording, seen in tests/e2e/test_any_base.py before PIP_TRUSTED_HOST).
TEST(Diagnose, PipIgnoredAnUntrustedHttpIndex) {
  const auto f = diagnose_install_failure(
      "WARNING: The repository located at index.dns.test is not a trusted or secure host and is "
      "being ignored. If this repository is available via HTTPS we recommend you use HTTPS "
      "instead, otherwise you may silence this warning and allow it anyway with '--trusted-host "
      "index.dns.test'.\nERROR: Could not find a version that satisfies the requirement six (from "
      "versions: none)\nERROR: No matching distribution found for six\n",
      1, "http://index.dns.test:8080/simple");
  EXPECT_EQ(f.package, "six");
  EXPECT_EQ(f.failure, taskrunner::report::Failure::unknown_package);
  EXPECT_NE(f.message.find("pip ignored the index http://index.dns.test:8080/simple"),
            std::string::npos)
      << f.message;
  EXPECT_NE(f.hint.find("PIP_TRUSTED_HOST"), std::string::npos) << f.hint;
}

TEST(Diagnose, PipAndUvWording) {
  auto f = diagnose_install_failure(
      "ERROR: Could not find a version that satisfies the requirement nosuchpkg (from versions: "
      "none)\n"
      "ERROR: No matching distribution found for nosuchpkg\n",
      1, "http://idx/simple");
  EXPECT_EQ(f.package, "nosuchpkg");
  EXPECT_NE(f.message.find("'nosuchpkg' was not found on the index http://idx/simple"),
            std::string::npos);
  f = diagnose_install_failure(
      "  × No solution found when resolving dependencies:\n  ╰─▶ Because nosuch-pkg was not found "
      "in the package registry and you require nosuch-pkg, we can conclude...\n",
      1, "i");
  EXPECT_EQ(f.package, "nosuch-pkg");
  f = diagnose_install_failure(
      "ERROR: Could not find a version that satisfies the requirement six==9 (from versions: "
      "1.16.0, 1.17.0)\n",
      1, "i");
  EXPECT_EQ(f.package, "six==9");
  EXPECT_NE(f.message.find("1.16.0, 1.17.0"), std::string::npos);
  f = diagnose_install_failure("ERROR: ResolutionImpossible: ...", 1, "i");
  EXPECT_NE(f.message.find("conflict"), std::string::npos);
  f = diagnose_install_failure("error: subprocess-exited-with-error\n", 1, "i");
  EXPECT_NE(f.message.find("build failed"), std::string::npos);
  f = diagnose_install_failure(
      "ERROR: Could not install packages due to an OSError: HTTPConnectionPool(host='127.0.0.1', "
      "port=1): Max retries exceeded with url: /files/six.whl (Caused by ResponseError('too many "
      "503 error responses'))",
      1, "i");
  EXPECT_TRUE(f.transient);
  EXPECT_EQ(f.failure, taskrunner::report::Failure::transient_network);
  f = diagnose_install_failure(
      "  Caused by: error sending request for url (http://x/simple/six/)\n  "
      "Caused by: connection reset",
      2, "i");
  EXPECT_TRUE(f.transient);
  f = diagnose_install_failure("something else", 9, "i");
  EXPECT_NE(f.message.find("code 9"), std::string::npos);
  EXPECT_FALSE(f.package);
}

TEST(CountInstalled, CountsDistInfoDirs) {
  const auto venv = std::filesystem::temp_directory_path() / "taskrunner-unit-venv";
  std::filesystem::remove_all(venv);
  const auto sp = venv / "lib" / "python3.11" / "site-packages";
  std::filesystem::create_directories(sp / "six-1.17.0.dist-info");
  std::filesystem::create_directories(sp / "idna-3.13.dist-info");
  std::filesystem::create_directories(sp / "idna");
  EXPECT_EQ(count_installed(venv), 2U);
  EXPECT_EQ(count_installed(venv / "missing"), 0U);
  std::filesystem::remove_all(venv);
}

TEST(InstallerEnv, ResolutionChangingVariablesNeverReachTheInstaller) {
  for (const bool uv : {true, false}) {
    auto c = uv_ctx();
    if (!uv) c.installer = {};
    c.base_env = {{"PATH", "/bin"},
                  {"PIP_FIND_LINKS", "/tmp/evil"},
                  {"PIP_EXTRA_INDEX_URL", "http://evil/simple"},
                  {"UV_EXTRA_INDEX_URL", "http://evil/simple"},
                  {"UV_FIND_LINKS", "/tmp/evil"},
                  {"UV_PRERELEASE", "allow"},
                  {"PIP_CONFIG_FILE", "/tmp/evil.conf"},
                  {"PIP_CERT", "/etc/ssl/ca.pem"},
                  {"UV_HTTP_TIMEOUT", "60"}};
    const auto env = installer_env(c);
    for (const char* gone : {"PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL",
                             "UV_FIND_LINKS", "UV_PRERELEASE"}) {
      EXPECT_EQ(env.count(gone), 0U) << gone;
    }
    EXPECT_EQ(env.at("PIP_CONFIG_FILE"), "/dev/null");
    EXPECT_EQ(env.at("UV_NO_CONFIG"), "1");
    EXPECT_EQ(env.at("PIP_CERT"), "/etc/ssl/ca.pem");
    EXPECT_EQ(env.at("UV_HTTP_TIMEOUT"), "60");
    EXPECT_EQ(env.at("PATH"), "/bin");
  }
}

TEST(DiagnoseInstallFailure, FullVolumeIsNoSpace) {
  for (const char* out :
       {"OSError: [Errno 28] No space left on device: '/cache/x'",
        "error: Failed to write to the cache (os error 28)", "Disk quota exceeded"}) {
    const auto f = diagnose_install_failure(out, 1, "http://i/simple");
    ASSERT_TRUE(f.failure) << out;
    EXPECT_EQ(*f.failure, taskrunner::report::Failure::no_space) << out;
    EXPECT_NE(f.message.find("ENOSPC"), std::string::npos);
  }
  EXPECT_FALSE(output_says_no_space("No matching distribution found for six"));
}
