#include "taskrunner/spec/lock.hpp"

#include <algorithm>
#include <regex>
#include <set>

#include "taskrunner/util/hash.hpp"

namespace taskrunner::spec {
namespace {

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  return std::string(s.substr(b, s.find_last_not_of(" \t\r") - b + 1));
}

/// "# key: value" header comments; the first word of the value (the rest is a note).
void read_header(std::string_view text, LockHeader& h) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const auto line = trim(text.substr(pos, nl - pos));
    pos = nl + 1;
    if (!line.starts_with("#")) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto key = trim(std::string_view(line).substr(1, colon - 1));
    auto value = trim(std::string_view(line).substr(colon + 1));
    if (value.empty()) continue;
    if (key == "resolver") {
      h.resolver = value;
      continue;
    }
    value = value.substr(0, value.find_first_of(" \t"));
    if (key == "python") h.python = value;
    if (key == "platform") h.platform = value;
    if (key == "index") h.index = value;
    if (key == "resolved_at") h.resolved_at = value;
  }
}

std::string major_minor(std::string_view version) {
  const auto first = version.find('.');
  if (first == std::string_view::npos) return std::string(version);
  const auto second = version.find('.', first + 1);
  return std::string(version.substr(0, second));
}

std::string body_line(const PinnedDistribution& d) {
  std::string out = d.name + "==" + d.version;
  for (const auto& h : d.hashes) out += " --hash=" + h;
  return out;
}

}  // namespace

util::Result<Lock> parse_lock(std::string_view text) {
  if (text.size() > kMaxLockBytes) {
    return util::Result<Lock>::fail("the lock is larger than " +
                                    std::to_string(kMaxLockBytes >> 20) + " MiB");
  }
  const auto lines = parse_requirements(text);
  if (!lines) return lines.status();
  if (lines->size() > kMaxLockDistributions) {
    return util::Result<Lock>::fail("the lock pins more than " +
                                    std::to_string(kMaxLockDistributions) + " distributions");
  }
  // PEP 508 name, then PEP 440 version characters; nothing else.
  static const std::regex kPin(
      R"(^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)==([A-Za-z0-9.+!_-]+)$)");
  static const std::regex kSha256(R"(^sha256:[0-9a-f]{64}$)");
  Lock lock;
  read_header(text, lock.header);
  std::set<std::string> seen;
  for (const auto& l : *lines) {
    const auto where = "line " + std::to_string(l.line);
    std::smatch m;
    if (!std::regex_match(l.requirement, m, kPin)) {
      return util::Result<Lock>::fail(
          where + ": '" + l.requirement.substr(0, 100) +
          "' is not a pin: a lock has only name==version lines (no extras, markers, URLs or "
          "ranges)");
    }
    PinnedDistribution d{normalize_name(m[1].str()), m[3].str(), {}};
    for (auto h : l.hashes) {
      std::transform(h.begin(), h.end(), h.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (!std::regex_match(h, kSha256)) {
        return util::Result<Lock>::fail(where + ": " + d.name + ": --hash=" + h.substr(0, 80) +
                                        " is not sha256:<64 hex digits>");
      }
      d.hashes.push_back(h);
    }
    if (d.hashes.empty()) {
      return util::Result<Lock>::fail(where + ": " + d.name + "==" + d.version +
                                      " has no --hash=sha256:… (a lock pins files, not names)");
    }
    std::sort(d.hashes.begin(), d.hashes.end());
    d.hashes.erase(std::unique(d.hashes.begin(), d.hashes.end()), d.hashes.end());
    if (!seen.insert(d.name).second) {
      return util::Result<Lock>::fail(where + ": " + d.name + " is pinned twice");
    }
    lock.distributions.push_back(std::move(d));
  }
  std::sort(lock.distributions.begin(), lock.distributions.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return lock;
}

std::string render_lock(const Lock& lock) {
  std::string out = "# taskrunner requirements.lock (docs/locks.md)\n";
  const auto field = [&](const char* key, const std::optional<std::string>& v) {
    if (v) out += std::string("# ") + key + ": " + *v + "\n";
  };
  field("python", lock.header.python);
  field("platform", lock.header.platform);
  field("index", lock.header.index);
  field("resolved_at", lock.header.resolved_at);
  field("resolver", lock.header.resolver);
  auto dists = lock.distributions;
  std::sort(dists.begin(), dists.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& d : dists) out += body_line(d) + "\n";
  return out;
}

std::string lock_digest(const Lock& lock) {
  std::vector<std::string> lines;
  lines.reserve(lock.distributions.size());
  for (const auto& d : lock.distributions) lines.push_back(body_line(d));
  std::sort(lines.begin(), lines.end());
  std::string body;
  for (const auto& l : lines) body += l + "\n";
  return util::sha256_hex(body);
}

std::vector<RequirementLine> lock_requirements(const Lock& lock) {
  std::vector<RequirementLine> out;
  out.reserve(lock.distributions.size());
  int n = 0;
  for (const auto& d : lock.distributions)
    out.push_back({d.name + "==" + d.version, d.hashes, ++n});
  return out;
}

bool same_resolution(const Lock& a, const Lock& b) {
  const auto pins = [](const Lock& l) {
    std::set<std::string> s;
    for (const auto& d : l.distributions) s.insert(d.name + "==" + d.version);
    return s;
  };
  return pins(a) == pins(b);
}

std::optional<std::string> lock_mismatch(const Lock& lock, std::string_view python_version,
                                         std::string_view platform) {
  if (lock.header.python && major_minor(*lock.header.python) != major_minor(python_version)) {
    return "the lock was resolved for Python " + *lock.header.python + ", this interpreter is " +
           std::string(python_version);
  }
  if (lock.header.platform && *lock.header.platform != platform) {
    return "the lock was resolved for platform " + *lock.header.platform + ", this pod is " +
           std::string(platform);
  }
  return std::nullopt;
}

}  // namespace taskrunner::spec
