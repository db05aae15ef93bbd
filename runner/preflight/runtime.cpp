#include "taskrunner/preflight/runtime.hpp"

#include <sched.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <string_view>

#include "taskrunner/execution/process.hpp"
#include "taskrunner/report/hints.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::preflight {
namespace {

/// Reads a cgroup number file: "max" → nullopt, a number → value, unreadable → nullopt + false.
bool read_number(const std::filesystem::path& p, std::optional<std::uint64_t>& out) {
  auto text = util::read_file(p, 4096);
  if (!text) return false;
  while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
  if (*text == "max") {
    out.reset();
    return true;
  }
  std::uint64_t v = 0;
  const std::string_view digits = *text;
  if (std::from_chars(digits.data(), digits.data() + digits.size(), v).ec != std::errc()) {
    return false;
  }
  // cgroup v1 reports "unlimited" as a huge page-aligned number.
  if (v >= (1ULL << 62)) {
    out.reset();
  } else {
    out = v;
  }
  return true;
}

}  // namespace

CgroupMemory read_cgroup_memory(const std::filesystem::path& root) {
  CgroupMemory m;
  std::optional<std::uint64_t> v;
  if (read_number(root / "memory.max", v)) {
    m.version = 2;
    m.limit = v;
    if (read_number(root / "memory.current", v)) m.current = v;
    return m;
  }
  if (read_number(root / "memory" / "memory.limit_in_bytes", v)) {
    m.version = 1;
    m.limit = v;
    if (read_number(root / "memory" / "memory.usage_in_bytes", v)) m.current = v;
  }
  return m;
}

bool user_namespaces_usable() {
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) ::_exit(::unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

report::Outcome check_runtime(const std::filesystem::path& cgroup_root, bool need_user_namespaces,
                              const std::string& path_var, bool always_probe) {
  report::Outcome o;
  o.detail["pid"] = ::getpid();
  o.detail["pid1"] = ::getpid() == 1;
  o.detail["uid"] = ::getuid();
  o.detail["gid"] = ::getgid();
  utsname u{};
  if (::uname(&u) == 0) {
    o.detail["kernel"] = u.release;
    o.detail["machine"] = u.machine;
  }
  const auto mem = read_cgroup_memory(cgroup_root);
  nlohmann::json cg;
  cg["version"] = mem.version;
  cg["memory_limit_bytes"] = mem.limit ? nlohmann::json(*mem.limit) : nlohmann::json(nullptr);
  if (mem.current) cg["memory_current_bytes"] = *mem.current;
  o.detail["cgroup"] = cg;
  if (const auto status = util::read_file("/proc/self/status", 65536)) {
    const auto at = status->find("\nSeccomp:");
    if (at != std::string::npos) {
      const int mode = std::atoi(status->c_str() + at + 9);
      o.detail["seccomp"] = mode == 0 ? "disabled" : mode == 1 ? "strict" : "filter";
    }
  }
  // Only nix-portable's bwrap needs user namespaces: without system deps the fork is saved.
  const bool probe = need_user_namespaces || always_probe;
  const bool userns = probe && user_namespaces_usable();
  o.detail["user_namespaces"] = probe ? nlohmann::json(userns) : nlohmann::json(nullptr);
  const bool bwrap = execution::find_on_path("bwrap", path_var).has_value();
  const bool proot = execution::find_on_path("proot", path_var).has_value();
  o.detail["bwrap"] = bwrap;
  o.detail["proot"] = proot;
  if (need_user_namespaces && !userns && !proot) {
    const auto& h = report::hint_for(report::Failure::user_namespaces_blocked);
    o.status = report::Status::warn;
    o.detail["failure"] = std::string(h.id);
    o.error = report::ErrorInfo{
        "user namespaces are blocked here (unshare(CLONE_NEWUSER) failed) and "
        "proot is not on PATH",
        std::string(h.text)};
  }
  return o;
}

}  // namespace taskrunner::preflight
