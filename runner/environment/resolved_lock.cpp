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
  // `doc` is const: every key is looked up with contains() first (operator[] on a missing key of
  // a const json is undefined behaviour, an assertion in debug builds).
  const auto string_at = [](const nlohmann::json& obj, const char* key) -> const std::string* {
    if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) return nullptr;
    return obj[key].get_ptr<const std::string*>();
  };
  for (const auto& item : doc["install"]) {
    const nlohmann::json none;
    const auto& meta = item.is_object() && item.contains("metadata") ? item["metadata"] : none;
    const auto* name_p = string_at(meta, "name");
    const auto* version_p = string_at(meta, "version");
    if (name_p == nullptr || version_p == nullptr) {
      return R::fail("an 'install' item of the installation report has no metadata name/version");
    }
    const auto& name = *name_p;
    const auto& version = *version_p;
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
