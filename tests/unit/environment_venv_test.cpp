// environment/venv: which venvs are written directly, and what create_venv() writes.
#include "taskrunner/environment/venv.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>

#include "testutil.hpp"

namespace taskrunner::environment {
namespace {

InstallContext pip_context(const std::filesystem::path& base, bool base_has_pip = true) {
  InstallContext ctx;
  ctx.installer.kind = tools::InstallerKind::pip;
  ctx.base_python = base;
  ctx.python_version = "3.11.2";
  ctx.base_has_pip = base_has_pip;
  ctx.venv = "/work/venv";
  return ctx;
}

TEST(Venv, LayoutWhenNoChildIsNeeded) {
  const auto layout = native_venv_layout(pip_context("/usr/bin/python3.11"));
  ASSERT_TRUE(layout);
  EXPECT_EQ(layout->dir, "/work/venv");
  EXPECT_EQ(layout->base_python, "/usr/bin/python3.11");
  EXPECT_EQ(layout->version, "3.11.2");
  EXPECT_EQ(layout->major_minor, "3.11");
  EXPECT_EQ(layout->major, "3");
  auto uv = pip_context("/usr/bin/python3", false);
  uv.installer.kind = tools::InstallerKind::uv;  // uv installs into any venv, with or without pip
  uv.python_version = "3.13.0rc1";
  ASSERT_TRUE(native_venv_layout(uv));
  EXPECT_EQ(native_venv_layout(uv)->major_minor, "3.13");
}

TEST(Venv, PythonMVenvWhereItMustBe) {
  // pip without pip in the base: only ensurepip brings it.
  EXPECT_FALSE(native_venv_layout(pip_context("/usr/bin/python3", false)));
  // A path or version the layout cannot be read from.
  EXPECT_FALSE(native_venv_layout(pip_context("python3")));
  for (const char* v : {"", "3", "three.11", "3.x", ".11"}) {
    auto ctx = pip_context("/usr/bin/python3");
    ctx.python_version = v;
    EXPECT_FALSE(native_venv_layout(ctx)) << v;
  }
  // A base that is itself in a venv: pyvenv.cfg beside it or one directory up.
  testutil::TempDir t("taskrunner-venv");
  testutil::write_file(t / "a" / "bin" / "python3", "");
  EXPECT_TRUE(native_venv_layout(pip_context(t / "a" / "bin" / "python3")));
  testutil::write_file(t / "a" / "pyvenv.cfg", "home = /usr/bin\n");
  EXPECT_FALSE(native_venv_layout(pip_context(t / "a" / "bin" / "python3")));
  testutil::write_file(t / "b" / "pyvenv.cfg", "home = /usr/bin\n");
  EXPECT_FALSE(native_venv_layout(pip_context(t / "b" / "python3")));
}

TEST(Venv, WritesThePep405Layout) {
  testutil::TempDir t("taskrunner-venv");
  auto ctx = pip_context("/opt/py/bin/python3.12");
  ctx.python_version = "3.12.7";
  ctx.venv = t / "deep" / "er" / "venv";
  const auto layout = native_venv_layout(ctx);
  ASSERT_TRUE(layout);
  const auto st = create_venv(*layout);
  ASSERT_TRUE(st.ok()) << st.error;
  const auto& v = ctx.venv;
  EXPECT_EQ(testutil::read_file(v / "pyvenv.cfg"),
            "home = /opt/py/bin\ninclude-system-site-packages = false\nversion = 3.12.7\n"
            "executable = /opt/py/bin/python3.12\n");
  EXPECT_EQ(std::filesystem::read_symlink(v / "bin" / "python3"), "/opt/py/bin/python3.12");
  EXPECT_EQ(std::filesystem::read_symlink(v / "bin" / "python"), "python3");
  EXPECT_EQ(std::filesystem::read_symlink(v / "bin" / "python3.12"), "python3");
  EXPECT_EQ(std::filesystem::read_symlink(v / "lib64"), "lib");
  EXPECT_TRUE(std::filesystem::is_directory(v / "lib" / "python3.12" / "site-packages"));
  EXPECT_TRUE(std::filesystem::is_directory(v / "include"));
  std::size_t entries = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(v)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 10U);  // nothing else: no activation scripts, no pip
}

TEST(Venv, FailuresNameThePathAndKeepTheErrno) {
  testutil::TempDir t("taskrunner-venv");
  auto ctx = pip_context("/usr/bin/python3");
  ctx.venv = t / "venv";
  std::filesystem::create_directories(ctx.venv);
  auto st = create_venv(*native_venv_layout(ctx));  // the venv must be new
  EXPECT_EQ(st.err, EEXIST);
  EXPECT_NE(st.error.find(ctx.venv.string()), std::string::npos) << st.error;
  EXPECT_NE(st.error.find("File exists"), std::string::npos) << st.error;
  testutil::write_file(t / "file", "x");
  ctx.venv = t / "file" / "venv";
  st = create_venv(*native_venv_layout(ctx));
  EXPECT_EQ(st.err, ENOTDIR);
  EXPECT_NE(st.error.find((t / "file").string()), std::string::npos) << st.error;
}

}  // namespace
}  // namespace taskrunner::environment
