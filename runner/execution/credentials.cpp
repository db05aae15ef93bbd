#include "taskrunner/execution/credentials.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "taskrunner/util/fs.hpp"
#include "taskrunner/util/number.hpp"

namespace taskrunner::execution {

util::Result<std::optional<Credentials>> parse_run_as(std::string_view text) {
  using R = util::Result<std::optional<Credentials>>;
  if (text == "off") return std::optional<Credentials>();
  const auto bad = [&](const std::string& why) {
    return R::fail("'" + std::string(text.substr(0, 40)) + "' " + why +
                   ": give UID or UID:GID (1 to 4294967294), or off");
  };
  const auto colon = text.find(':');
  constexpr std::uint64_t kMax = 4294967294ULL;
  const auto uid = util::parse_uint(text.substr(0, colon), kMax);
  if (!uid) return bad("has no valid uid");
  auto gid = uid;
  if (colon != std::string_view::npos) {
    gid = util::parse_uint(text.substr(colon + 1), kMax);
    if (!gid) return bad("has no valid gid");
  }
  if (*uid == 0 || *gid == 0) return bad("would keep root (0)");
  return std::optional<Credentials>(
      Credentials{static_cast<uid_t>(*uid), static_cast<gid_t>(*gid)});
}

std::string to_string(const Credentials& c) {
  return std::to_string(c.uid) + ":" + std::to_string(c.gid);
}

int drop_privileges(const Credentials& c) noexcept {
  if (::setgroups(0, nullptr) != 0) return errno;
  if (::setgid(c.gid) != 0) return errno;
  if (::setuid(c.uid) != 0) return errno;
  // setuid(2) from root sets real, effective and saved uid: there is no way back.
  if (::setuid(0) == 0) return EPERM;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  return 0;
}

util::Result<util::EnvMap> prepare_user_dirs(const Credentials& c,
                                             const std::filesystem::path& work_dir,
                                             const std::filesystem::path& results_dir) {
  util::EnvMap env;
  for (const auto& [var, dir] :
       {std::pair<const char*, std::filesystem::path>{"HOME", work_dir / "home"},
        {"TMPDIR", work_dir / "tmp"},
        {"TASKRUNNER_OUTPUTS_DIR", results_dir / "outputs"}}) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return util::Result<util::EnvMap>::fail(util::errno_message("cannot create", dir, errno));
    }
    // O_NOFOLLOW|O_DIRECTORY: a symlink planted under that name is refused, never chowned.
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      return util::Result<util::EnvMap>::fail(util::errno_message("cannot open", dir, errno));
    }
    const bool ok = ::fchown(fd, c.uid, c.gid) == 0 && ::fchmod(fd, 0700) == 0;
    const int err = errno;
    ::close(fd);
    if (!ok) return util::Result<util::EnvMap>::fail(util::errno_message("cannot hand", dir, err));
    env[var] = dir.string();
  }
  return env;
}

namespace {

bool allowed(const Credentials& c, const struct stat& st, mode_t owner, mode_t group,
             mode_t other) {
  if (st.st_uid == c.uid) return (st.st_mode & owner) != 0;
  if (st.st_gid == c.gid) return (st.st_mode & group) != 0;
  return (st.st_mode & other) != 0;
}

std::string octal(mode_t mode) {
  char buf[8];
  (void)std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

std::optional<std::string> unreachable(const Credentials& c, const std::filesystem::path& file) {
  std::error_code ec;
  for (const auto& path : {file, std::filesystem::canonical(file, ec)}) {
    if (path.empty()) continue;
    std::filesystem::path at;
    for (const auto& part : path.parent_path()) {
      at /= part;
      struct stat st {};
      if (::stat(at.c_str(), &st) == 0 && !allowed(c, st, S_IXUSR, S_IXGRP, S_IXOTH)) {
        return "uid " + to_string(c) + " cannot enter " + at.string() + " (mode " +
               octal(st.st_mode) + ", owner " + std::to_string(st.st_uid) + ")";
      }
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && !allowed(c, st, S_IRUSR, S_IRGRP, S_IROTH)) {
      return "uid " + to_string(c) + " cannot read " + path.string() + " (mode " +
             octal(st.st_mode) + ")";
    }
  }
  return std::nullopt;
}

}  // namespace taskrunner::execution
