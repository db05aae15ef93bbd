#include "taskrunner/environment/resolved_lock.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "taskrunner/util/fs.hpp"

namespace taskrunner::environment {

util::Result<spec::Lock> lock_from_pip_report(std::string_view report_json) {
  using R = util::Result<spec::Lock>;
  const auto doc = nlohmann::json::parse(report_json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("install") || !doc["install"].is_array()) {
    return R::fail("the installation report has no 'install' list");
  }
  // The report's names and versions go through the lock's own parser, so a report can never
  // yield a lock parse_lock() would refuse.
  std::string text;
  for (const auto& item : doc["install"]) {
    const auto* meta = item.is_object() ? &item["metadata"] : nullptr;
    if (meta == nullptr || !meta->is_object() || !(*meta)["name"].is_string() ||
        !(*meta)["version"].is_string()) {
      return R::fail("an 'install' item of the installation report has no metadata name/version");
    }
    const auto name = (*meta)["name"].get<std::string>();
    const auto version = (*meta)["version"].get<std::string>();
    std::string sha;
    const auto info = item.value("download_info", nlohmann::json::object());
    const auto archive = info.is_object() ? info.value("archive_info", nlohmann::json::object())
                                          : nlohmann::json::object();
    if (archive.is_object()) {
      const auto hashes = archive.value("hashes", nlohmann::json::object());
      if (hashes.is_object() && hashes.contains("sha256") && hashes["sha256"].is_string()) {
        sha = hashes["sha256"].get<std::string>();
      } else if (archive.contains("hash") && archive["hash"].is_string()) {
        const auto legacy = archive["hash"].get<std::string>();
        if (legacy.starts_with("sha256=")) sha = legacy.substr(7);
      }
    }
    if (sha.empty()) {
      return R::fail(name.substr(0, 100) + " " + version.substr(0, 50) +
                     " was not installed from an archive with a sha256 (a local directory or VCS "
                     "checkout): it cannot be pinned");
    }
    text.append(name).append("==").append(version).append(" --hash=sha256:").append(sha);
    text += '\n';
  }
  auto lock = spec::parse_lock(text);
  if (!lock) return R::fail("the installation report: " + lock.error());
  return lock;
}

util::Result<spec::Lock> read_resolution(const std::filesystem::path& path, bool pip_report) {
  const auto text = util::read_file(path, spec::kMaxLockBytes);
  if (!text) return text.status();
  if (pip_report) return lock_from_pip_report(*text);
  auto lock = spec::parse_lock(*text);
  if (!lock) return util::Result<spec::Lock>::fail(path.string() + ": " + lock.error());
  return lock;
}

}  // namespace taskrunner::environment
