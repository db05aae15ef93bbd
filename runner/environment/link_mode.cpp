#include "taskrunner/environment/link_mode.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>

#include "taskrunner/util/fs.hpp"

namespace taskrunner::environment {
namespace {

/// `dir` itself when it exists, else its nearest existing ancestor.
std::filesystem::path existing_ancestor(std::filesystem::path dir) {
  std::error_code ec;
  while (!dir.empty() && !std::filesystem::is_directory(dir, ec)) {
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return dir;
}

}  // namespace

std::string_view to_string(LinkMode mode) {
  switch (mode) {
    case LinkMode::clone: return "clone";
    case LinkMode::hardlink: return "hardlink";
    case LinkMode::copy: return "copy";
  }
  return "copy";
}

LinkChoice choose_link_mode(const std::filesystem::path& cache_dir,
                            const std::filesystem::path& venv_parent) {
  const auto target = existing_ancestor(venv_parent);
  const auto a = util::device_of(cache_dir);
  const auto b = util::device_of(target);
  if (!a || !b || *a != *b) {
    return {LinkMode::copy, "the uv cache and the venv are on different file systems"};
  }
  const auto name = ".taskrunner-link-probe.tmp-" + std::to_string(::getpid());
  const auto src_path = cache_dir / name;
  const auto dst_path = target / (name + "-dst");
  const int src = ::open(src_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (src < 0) {
    return {LinkMode::copy, util::errno_message("cannot create the link probe", src_path, errno)};
  }
  std::array<char, 4096> block{};
  LinkChoice choice{LinkMode::copy, "the file system supports neither reflinks nor hard links"};
  if (util::write_all(src, block.data(), block.size()) == 0) {
    const int dst = ::open(dst_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (dst >= 0) {
      const bool cloned = ::ioctl(dst, FICLONE, src) == 0;
      ::close(dst);
      ::unlink(dst_path.c_str());
      if (cloned) {
        choice = {LinkMode::clone, "the file system clones files (reflink, copy-on-write)"};
      }
    }
    if (choice.mode == LinkMode::copy && ::link(src_path.c_str(), dst_path.c_str()) == 0) {
      ::unlink(dst_path.c_str());
      choice = {LinkMode::hardlink,
                "one file system with hard links but no reflinks (the venv shares the cache's "
                "inodes)"};
    }
  }
  ::close(src);
  ::unlink(src_path.c_str());
  return choice;
}

}  // namespace taskrunner::environment
