#include "taskrunner/tools/probe_record.hpp"

#include <sys/stat.h>

#include "taskrunner/util/fs.hpp"
#include "taskrunner/util/hash.hpp"

namespace taskrunner::tools {

std::string file_identity(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return path.string() + "|" + std::to_string(st.st_size) + "|" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "|" +
         std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
}

std::optional<nlohmann::json> read_probe_record(const std::filesystem::path& file,
                                                const std::string& key) {
  struct stat st {};
  if (key.empty() || ::lstat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  const auto text = util::read_file(file, 65536);
  if (!text) return std::nullopt;
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  if (!doc.is_object() || !doc.contains("key") || !doc["key"].is_string() ||
      doc["key"].get<std::string>() != key) {
    return std::nullopt;
  }
  return doc;
}

std::filesystem::path probe_record_path(const std::filesystem::path& dir, const std::string& key) {
  return dir / (util::sha256_hex(key).substr(0, 32) + ".json");
}

std::optional<std::filesystem::path> shared_record_file(const SharedProbeRecords& shared,
                                                        const std::string& key) {
  if (!shared.dir || key.empty()) return std::nullopt;
  (void)util::make_dirs(*shared.dir);
  if (!util::is_real_dir(*shared.dir)) return std::nullopt;
  return probe_record_path(*shared.dir, key);
}

bool mac_matches(const nlohmann::json& record, const std::string& expected) {
  return record.contains("mac") && record["mac"].is_string() &&
         util::equal_in_constant_time(record["mac"].get<std::string>(), expected);
}

}  // namespace taskrunner::tools
