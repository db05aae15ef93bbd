#include "taskrunner/environment/entry_signature.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "taskrunner/util/fs.hpp"
#include "taskrunner/util/hash.hpp"

namespace taskrunner::environment {
namespace fs = std::filesystem;

util::Result<std::string> read_cache_key(const fs::path& path) {
  using R = util::Result<std::string>;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return R::fail(util::errno_message("cannot read the cache key", path, errno), errno);
  }
  if (!S_ISREG(st.st_mode)) return R::fail(path.string() + " is not a regular file");
  auto key = util::read_file(path, kMaxCacheKeyBytes);
  if (!key) return key;
  if (key->empty()) return R::fail(path.string() + " is empty");
  return key;
}

std::string tree_digest(const fs::path& venv) {
  std::vector<std::string> lines;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(venv, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto rel = it->path().lexically_relative(venv).string();
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    std::string line;
    const auto mode = std::to_string(st.st_mode & 07777);
    if (S_ISREG(st.st_mode)) {
      line.append("f ").append(rel).append(" ").append(std::to_string(st.st_size));
      line.append(" ").append(mode);
    } else if (S_ISDIR(st.st_mode)) {
      line.append("d ").append(rel).append(" ").append(mode);
    } else if (S_ISLNK(st.st_mode)) {
      std::error_code link_ec;  // its own: `ec` ends the walk
      line.append("l ").append(rel).append(" ");
      line.append(fs::read_symlink(it->path(), link_ec).string());
    } else {
      line.append("o ").append(rel);
    }
    lines.push_back(std::move(line));
  }
  std::sort(lines.begin(), lines.end());
  util::Sha256 h;
  for (const auto& l : lines) {
    h.update(l.data(), l.size());
    h.update("\n", 1);
  }
  return h.hex_digest();
}

std::string entry_mac(std::string_view key, const nlohmann::json& manifest) {
  const auto field = [&](const char* a, const char* b = nullptr) -> nlohmann::json {
    if (!manifest.is_object() || !manifest.contains(a)) return nullptr;
    const auto& v = manifest[a];
    if (b == nullptr) return v;
    return v.is_object() && v.contains(b) ? v[b] : nlohmann::json(nullptr);
  };
  const nlohmann::json covered = {{"format", field("format")},
                                  {"key", field("key")},
                                  {"mode", field("mode")},
                                  {"venv_path", field("venv_path")},
                                  {"archive_sha256", field("archive", "sha256")},
                                  {"archive_bytes", field("archive", "bytes")},
                                  {"venv_tree", field("venv_tree")},
                                  {"lock_sha256", field("lock", "sha256")}};
  return util::hmac_sha256_hex(key, covered.dump());
}

util::Status verify_entry(std::string_view key, const nlohmann::json& manifest,
                          const fs::path& venv_path, bool in_place) {
  if (!manifest.contains("mac") || !manifest["mac"].is_string()) {
    return util::Status{"the entry is unsigned (no mac) and TASKRUNNER_CACHE_KEY_FILE is set"};
  }
  if (!util::equal_in_constant_time(manifest["mac"].get<std::string>(), entry_mac(key, manifest))) {
    return util::Status{"the manifest's MAC does not verify under TASKRUNNER_CACHE_KEY_FILE"};
  }
  if (in_place) {
    const bool has_tree = manifest.contains("venv_tree") && manifest["venv_tree"].is_string();
    if (!has_tree || tree_digest(venv_path) != manifest["venv_tree"].get<std::string>()) {
      return util::Status{"the in-place venv changed since it was published (file list or sizes)"};
    }
  }
  return {};
}

}  // namespace taskrunner::environment
