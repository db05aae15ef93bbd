#include "taskrunner/environment/venv.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <functional>
#include <regex>

#include "taskrunner/util/fs.hpp"

namespace taskrunner::environment {
namespace {

bool exists_no_follow(const std::filesystem::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

util::Status fail(std::string_view what, const std::filesystem::path& p, int err) {
  return util::Status{util::errno_message(what, p, err), err};
}

util::Status make_dir(const std::filesystem::path& p) {
  if (::mkdir(p.c_str(), 0777) != 0) return fail("cannot create directory", p, errno);
  return {};
}

util::Status make_link(const std::filesystem::path& target, const std::filesystem::path& link) {
  if (::symlink(target.c_str(), link.c_str()) != 0)
    return fail("cannot create symlink", link, errno);
  return {};
}

util::Status write_new_file(const std::filesystem::path& p, const std::string& content) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) return fail("cannot create", p, errno);
  int err = util::write_all(fd, content.data(), content.size());
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) return fail("cannot write", p, err);
  return {};
}

}  // namespace

std::optional<VenvLayout> native_venv_layout(const InstallContext& ctx) {
  if (ctx.installer.kind == tools::InstallerKind::pip && !ctx.base_has_pip) return std::nullopt;
  const auto& base = ctx.base_python;
  if (!base.is_absolute() || !base.has_parent_path()) return std::nullopt;
  const auto bin_dir = base.parent_path();
  if (exists_no_follow(bin_dir / "pyvenv.cfg") ||
      (bin_dir.has_parent_path() && exists_no_follow(bin_dir.parent_path() / "pyvenv.cfg"))) {
    return std::nullopt;
  }
  static const std::regex kVersion(R"(^(\d+)\.(\d+)(\D.*)?$)");
  std::smatch m;
  if (!std::regex_match(ctx.python_version, m, kVersion)) return std::nullopt;
  return VenvLayout{ctx.venv, base, ctx.python_version, m[1].str() + "." + m[2].str(), m[1].str()};
}

util::Status create_venv(const VenvLayout& layout) {
  const auto& dir = layout.dir;
  if (dir.has_parent_path()) {
    if (auto st = util::make_dirs(dir.parent_path()); !st.ok()) return st;
  }
  const auto python_major = "python" + layout.major;
  const auto lib_python = dir / "lib" / ("python" + layout.major_minor);
  const std::string cfg = "home = " + layout.base_python.parent_path().string() +
                          "\ninclude-system-site-packages = false\nversion = " + layout.version +
                          "\nexecutable = " + layout.base_python.string() + "\n";
  const auto bin = dir / "bin";
  // In order, stopping at the first failure; pyvenv.cfg last, so a venv that has one is whole.
  const std::array<std::function<util::Status()>, 11> steps = {
      [&] { return make_dir(dir); },
      [&] { return make_dir(bin); },
      [&] { return make_link(layout.base_python, bin / python_major); },
      [&] { return make_link(python_major, bin / "python"); },
      [&] { return make_link(python_major, bin / ("python" + layout.major_minor)); },
      [&] { return make_dir(dir / "include"); },
      [&] { return make_dir(dir / "lib"); },
      [&] { return make_dir(lib_python); },
      [&] { return make_dir(lib_python / "site-packages"); },
      [&] { return make_link("lib", dir / "lib64"); },
      [&] { return write_new_file(dir / "pyvenv.cfg", cfg); },
  };
  for (const auto& step : steps) {
    if (auto st = step(); !st.ok()) return st;
  }
  return {};
}

}  // namespace taskrunner::environment
