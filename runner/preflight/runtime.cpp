#include "taskrunner/preflight/runtime.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <charconv>
#include <string_view>

#include "taskrunner/util/fs.hpp"

namespace taskrunner::preflight {
namespace {

/// Reads a cgroup number file: "max" → nullopt, a number → value, unreadable → nullopt + false.
bool read_number(const std::filesystem::path& p, std::optional<std::uint64_t>& out) {
  std::string error;
  auto text = util::read_file(p, error, 4096);
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

Outcome check_runtime(const std::filesystem::path& cgroup_root) {
  Outcome o;
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
  return o;
}

}  // namespace taskrunner::preflight
