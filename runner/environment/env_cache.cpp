#include "taskrunner/environment/env_cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>

#include "taskrunner/environment/entry_signature.hpp"
#include "taskrunner/environment/env_key.hpp"
#include "taskrunner/environment/snapshot.hpp"
#include "taskrunner/report/checkpoint.hpp"
#include "taskrunner/spec/lock.hpp"
#include "taskrunner/util/fs.hpp"
#include "taskrunner/util/hash.hpp"
#include "taskrunner/util/time.hpp"

namespace taskrunner::environment {
namespace fs = std::filesystem;

std::optional<EnvMode> parse_env_mode(std::string_view text) {
  if (text == "off") return EnvMode::off;
  if (text == "snapshot") return EnvMode::snapshot;
  if (text == "inplace") return EnvMode::inplace;
  if (text == "auto") return EnvMode::automatic;
  return std::nullopt;
}

std::string_view name(EnvMode mode) {
  switch (mode) {
    case EnvMode::off: return "off";
    case EnvMode::snapshot: return "snapshot";
    case EnvMode::inplace: return "inplace";
    case EnvMode::automatic: return "auto";
  }
  return "off";
}

std::string filesystem_type(const fs::path& path) {
  struct statfs st {};
  fs::path probe = path;
  std::error_code ec;
  while (!fs::exists(probe, ec) && probe.has_parent_path() && probe != probe.parent_path()) {
    probe = probe.parent_path();
  }
  if (::statfs(probe.c_str(), &st) != 0) return "unknown";
  switch (static_cast<unsigned long>(st.f_type)) {
    case 0x6969UL: return "nfs";
    case 0x65735546UL: return "fuse";
    case 0xFF534D42UL: return "cifs";
    case 0xFE534D42UL: return "smb2";
    case 0x00C36400UL: return "ceph";
    case 0x01021997UL: return "9p";
    case 0x794c7630UL: return "overlay";
    case 0x01021994UL: return "tmpfs";
    case 0xEF53UL: return "ext4";
    case 0x58465342UL: return "xfs";
    case 0x9123683EUL: return "btrfs";
    default: break;
  }
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(st.f_type));
  return buf;
}

bool is_network_filesystem(const std::string& type) {
  return type == "nfs" || type == "fuse" || type == "cifs" || type == "smb2" || type == "ceph" ||
         type == "9p";
}

EnvMode choose_mode(EnvMode requested, const fs::path& root) {
  if (requested != EnvMode::automatic) return requested;
  return is_network_filesystem(filesystem_type(root)) ? EnvMode::snapshot : EnvMode::inplace;
}

EntryPaths entry_paths(const fs::path& root, const std::string& key, EnvMode mode) {
  const std::string id = key + "-" + std::string(name(mode));
  EntryPaths p;
  p.dir = root / "envs" / id;
  p.manifest = p.dir / "manifest.json";
  p.archive = p.dir / "venv.tar.zst";
  p.build_lock = root / "locks" / (id + ".build");
  p.use_lock = root / "locks" / (id + ".use");
  return p;
}

namespace {

bool is_hex(std::string_view s, std::size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

/// `path` itself (not a symlink to one) is a regular file.
bool real_file(const fs::path& path, struct stat& st) {
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::optional<Entry> read_entry(const fs::path& dir, std::string& error) {
  const auto file = (dir / "manifest.json").string();
  struct stat mst {};
  if (!util::is_real_dir(dir) || !real_file(dir / "manifest.json", mst)) {
    error = "entry " + dir.string() + " is not a directory holding a manifest file (a symlink?)";
    return std::nullopt;
  }
  const auto text = util::read_file(file, std::size_t{1} << 20);
  if (!text) {
    error = text.error();
    return std::nullopt;
  }
  Entry e;
  e.dir = dir;
  e.manifest = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  const auto& m = e.manifest;
  const auto invalid = [&](const std::string& why) {
    error = "manifest " + file + " is invalid: " + why;
    return std::nullopt;
  };
  if (!m.is_object()) return invalid("not a JSON object");
  if (!m.contains("format") || !m["format"].is_number_integer() ||
      m["format"].get<int>() != kEnvFormat) {
    error = "manifest " + file + " has another format version";
    return std::nullopt;
  }
  for (const char* field : {"key", "mode", "venv_path"}) {
    if (!m.contains(field) || !m[field].is_string())
      return invalid(std::string(field) + " is not a string");
  }
  e.key = m["key"].get<std::string>();
  if (!is_hex(e.key, 64)) return invalid("key is not 64 hex digits");
  const auto mode = parse_env_mode(m["mode"].get<std::string>());
  if (!mode || *mode == EnvMode::off || *mode == EnvMode::automatic) {
    error = "manifest " + file + " has an unknown mode";
    return std::nullopt;
  }
  e.mode = *mode;
  e.venv_path = m["venv_path"].get<std::string>();
  if (e.mode == EnvMode::inplace) {
    // Never trust a path read from the shared volume: an in-place venv is
    // <root>/venvs/<key>-<16 hex> of this very cache, or the entry is invalid.
    const auto venvs = dir.parent_path().parent_path() / "venvs";
    const auto n = e.venv_path.filename().string();
    if (e.venv_path.parent_path() != venvs || n.size() != 64 + 1 + 16 ||
        n.compare(0, 64, e.key) != 0 || n[64] != '-' ||
        !is_hex(std::string_view(n).substr(65), 16)) {
      return invalid("venv_path is not <root>/venvs/<key>-<nonce> of this cache");
    }
  }
  if (e.mode == EnvMode::snapshot) {
    const auto a = m.value("archive", nlohmann::json());
    if (!a.is_object() || !a.contains("bytes") || !a["bytes"].is_number_unsigned() ||
        !a.contains("sha256") || !a["sha256"].is_string()) {
      return invalid("archive.bytes and archive.sha256 are required");
    }
    e.bytes = a["bytes"].get<std::uint64_t>();
    e.archive_sha256 = a["sha256"].get<std::string>();
    if (!is_hex(e.archive_sha256, 64)) return invalid("archive.sha256 is not 64 hex digits");
    // The size counted by prune is the archive's real one, never only the manifest's word.
    struct stat ast {};
    if (!real_file(dir / "venv.tar.zst", ast) ||
        static_cast<std::uint64_t>(ast.st_size) != e.bytes) {
      return invalid("archive.bytes differs from the archive file's size");
    }
  } else if (m.contains("venv_bytes")) {
    if (!m["venv_bytes"].is_number_unsigned() ||
        m["venv_bytes"].get<std::uint64_t>() > kMaxEntryBytes) {
      return invalid("venv_bytes is not a byte count up to " + std::to_string(kMaxEntryBytes));
    }
    e.bytes = m["venv_bytes"].get<std::uint64_t>();
  }
  if (m.contains("lock")) {
    const auto& l = m["lock"];
    if (!l.is_object() || !l.contains("sha256") || !l["sha256"].is_string() ||
        !is_hex(l["sha256"].get<std::string>(), 64) || !l.contains("digest") ||
        !l["digest"].is_string() || !is_hex(l["digest"].get<std::string>(), 64) ||
        !l.contains("distributions") || !l["distributions"].is_number_unsigned() ||
        l["distributions"].get<std::uint64_t>() > spec::kMaxLockDistributions ||
        !l.contains("pinned") || !l["pinned"].is_boolean()) {
      return invalid("lock needs sha256, digest (64 hex digits), distributions and pinned");
    }
    struct stat lst {};
    if (!real_file(dir / "requirements.lock", lst) ||
        static_cast<std::uint64_t>(lst.st_size) > spec::kMaxLockBytes) {
      return invalid("requirements.lock is missing or too large");
    }
    EntryLock lock;
    lock.sha256 = l["sha256"].get<std::string>();
    lock.digest = l["digest"].get<std::string>();
    lock.distributions = l["distributions"].get<std::uint64_t>();
    lock.pinned = l["pinned"].get<bool>();
    const auto resolved = m.value("resolved_at", nlohmann::json());
    const auto at =
        resolved.is_string() ? util::parse_rfc3339(resolved.get<std::string>()) : std::nullopt;
    if (!at) return invalid("resolved_at is not an RFC 3339 time");
    lock.resolved_at = *at;
    e.lock = std::move(lock);
  }
  struct stat st = mst;
  struct stat hst {};
  if (real_file(dir / "hits", hst)) {
    e.hits = static_cast<std::uint64_t>(hst.st_size);
    st = hst;
  }
  e.last_used = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  return e;
}

std::atomic<unsigned> g_counter{0};

std::string unique_suffix() {
  return std::to_string(::getpid()) + "-" + std::to_string(g_counter++);
}

/// True when nobody holds `lock` (an exclusive try-lock succeeds); a missing lock file is free.
bool lock_is_free(const fs::path& lock) {
  std::error_code ec;
  if (!fs::exists(lock, ec)) return true;
  return util::lock_file(lock, std::chrono::milliseconds(0)).ok();
}

}  // namespace

util::Result<std::optional<Entry>> find_entry(const fs::path& root, const std::string& key,
                                              EnvMode mode) {
  const auto p = entry_paths(root, key, mode);
  std::error_code ec;
  if (!fs::exists(p.manifest, ec)) return std::optional<Entry>();
  std::string error;
  auto e = read_entry(p.dir, error);
  if (!e) return util::Status{error};
  if (e->key != key || e->mode != mode) {
    return util::Status{"manifest " + p.manifest.string() + " names another key or mode"};
  }
  return std::optional<Entry>(std::move(*e));
}

std::vector<Entry> list_entries(const fs::path& root) {
  std::vector<Entry> out;
  std::error_code ec;
  for (const auto& d : fs::directory_iterator(root / "envs", ec)) {
    const auto n = d.path().filename().string();
    if (n.starts_with(".")) continue;
    std::string error;
    if (auto e = read_entry(d.path(), error)) out.push_back(std::move(*e));
  }
  return out;
}

void record_hit(const Entry& entry) {
  const auto hits = entry.dir / "hits";
  // O_NOFOLLOW: a symlink planted as `hits` is never followed (and never appended to).
  const int fd = ::open(hits.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return;  // statistics only
  (void)util::write_all(fd, "h", 1);
  ::close(fd);
}

void reject_entry(const fs::path& root, const fs::path& dir) {
  std::error_code ec;
  const auto away =
      root / "envs" / (".tmp-rejected-" + dir.filename().string() + "-" + unique_suffix());
  fs::rename(dir, away, ec);
  fs::remove_all(ec ? dir : away, ec);
}

Published publish_entry(
    const fs::path& root, const std::string& key, EnvMode mode, const nlohmann::json& manifest,
    const std::function<std::string(const fs::path& tmp, nlohmann::json& manifest)>& fill,
    const std::function<bool(const Entry& existing)>& keeps) {
  Published out;
  const auto p = entry_paths(root, key, mode);
  const auto published_by_another = [&] {
    const auto found = find_entry(root, key, mode);
    return found.ok() && found->has_value() && (!keeps || keeps(**found));
  };
  if (published_by_another()) {
    out.dir = p.dir;
    out.kept_existing = true;
    return out;
  }
  const auto tmp =
      root / "envs" / (".tmp-" + key + "-" + std::string(name(mode)) + "-" + unique_suffix());
  if (const auto made = util::make_dirs(tmp); !made.ok()) {
    out.error = made.error;
    return out;
  }
  std::error_code ec;
  // Every failure removes the temp dir at once: a full volume must not fill up further with
  // half-written archives (prune would only find them later).
  const auto failed = [&](std::string error) {
    fs::remove_all(tmp, ec);
    out.error = std::move(error);
    return out;
  };
  auto m = manifest;
  if (fill) {
    if (auto error = fill(tmp, m); !error.empty()) return failed(std::move(error));
  }
  if (const auto st = util::write_file_atomic(tmp / "manifest.json", m.dump(2) + "\n"); !st.ok()) {
    return failed(st.error);
  }
  const auto keep_theirs = [&] {
    fs::remove_all(tmp, ec);
    out.dir = p.dir;
    out.kept_existing = true;
    return out;
  };
  if (published_by_another()) return keep_theirs();
  if (fs::exists(p.dir, ec)) reject_entry(root, p.dir);  // a rejected or stale leftover
  if (::rename(tmp.c_str(), p.dir.c_str()) != 0) {
    const int err = errno;
    // ENOTEMPTY/EEXIST: another runner's entry appeared between the check and the rename.
    if ((err == ENOTEMPTY || err == EEXIST) && published_by_another()) return keep_theirs();
    return failed(util::errno_message("cannot publish", p.dir, err));
  }
  out.dir = p.dir;
  return out;
}

Published publish_venv(const fs::path& root, const std::string& key, EnvMode mode,
                       const fs::path& venv, const std::string& inputs_json,
                       const std::optional<LockToPublish>& lock,
                       const std::optional<std::string>& signing_key) {
  nlohmann::json manifest = {{"format", kEnvFormat},
                             {"key", key},
                             {"mode", std::string(name(mode))},
                             {"venv_path", venv.string()},
                             {"created_at", report::rfc3339_utc(std::chrono::system_clock::now())},
                             {"inputs", nlohmann::json::parse(inputs_json, nullptr, false)}};
  std::uint64_t bytes = 0;
  auto out = publish_entry(
      root, key, mode, manifest,
      [&](const fs::path& tmp, nlohmann::json& m) -> std::string {
        if (lock) {
          if (const auto st = util::write_file_atomic(tmp / "requirements.lock", lock->text);
              !st.ok()) {
            return st.error;
          }
          m["lock"] = {{"file", "requirements.lock"},
                       {"sha256", util::sha256_hex(lock->text)},
                       {"digest", lock->digest},
                       {"distributions", lock->distributions},
                       {"pinned", lock->pinned}};
          m["resolved_at"] = lock->resolved_at;
        }
        if (mode == EnvMode::inplace) {
          bytes = tree_bytes(venv);
          m["venv_bytes"] = bytes;
          if (signing_key) m["venv_tree"] = tree_digest(venv);
        } else {
          const auto info = write_snapshot(venv, tmp / "venv.tar.zst");
          if (!info) return info.error();
          bytes = info->archive_bytes;
          m["archive"] = {
              {"name", "venv.tar.zst"}, {"bytes", info->archive_bytes}, {"sha256", info->sha256}};
          m["content_bytes"] = info->content_bytes;
          m["entries"] = info->entries;
        }
        if (signing_key) m["mac"] = entry_mac(*signing_key, m);  // last: it covers the rest
        return "";
      },
      [&](const Entry& existing) {
        // Signed entries: an unsigned or forged one already there is replaced, not kept.
        return !signing_key || verify_entry(*signing_key, existing.manifest, existing.venv_path,
                                            mode == EnvMode::inplace)
                                   .ok();
      });
  if (out.error.empty()) out.bytes = bytes;
  return out;
}

util::Result<std::string> read_entry_lock(const Entry& entry) {
  if (!entry.lock) return util::Result<std::string>::fail("the entry has no lock");
  const auto path = entry.dir / "requirements.lock";
  struct stat st {};
  if (!real_file(path, st)) {
    return util::Result<std::string>::fail(path.string() + " is not a regular file");
  }
  auto text = util::read_file(path, spec::kMaxLockBytes);
  if (!text) return text;
  if (util::sha256_hex(*text) != entry.lock->sha256) {
    return util::Result<std::string>::fail(path.string() +
                                           " does not match the manifest's sha256 (changed)");
  }
  return text;
}

util::Status renew_resolution(const Entry& entry, std::chrono::system_clock::time_point now) {
  auto m = entry.manifest;
  m["resolved_at"] = report::rfc3339_utc(now);
  return util::write_file_atomic(entry.dir / "manifest.json", m.dump(2) + "\n");
}

fs::path inplace_venv_dir(const fs::path& root, const std::string& key) {
  std::random_device rd;
  char nonce[17];
  (void)std::snprintf(nonce, sizeof nonce, "%08x%08x", rd(), rd());
  return root / "venvs" / (key + "-" + nonce);
}

std::uint64_t tree_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<std::uint64_t>(st.st_size);
    }
  }
  return total;
}

PruneReport prune(const fs::path& root, std::optional<std::uint64_t> max_bytes,
                  std::optional<std::chrono::seconds> max_age) {
  PruneReport report;
  std::error_code ec;
  // Every directory prune walks must be the cache's own, never a symlink out of it.
  for (const char* sub : {"envs", "venvs", "locks"}) {
    if (fs::is_symlink(root / sub, ec)) {
      report.refused.push_back((root / sub).string() + " is a symlink: nothing pruned");
      return report;
    }
  }
  // 1. Temp dirs whose builder is gone.
  for (const auto& d : fs::directory_iterator(root / "envs", ec)) {
    const auto n = d.path().filename().string();
    if (!n.starts_with(".tmp-")) continue;
    bool free = true;
    if (!n.starts_with(".tmp-rejected-") && n.size() > 5 + 64) {
      const auto key = n.substr(5, 64);
      const auto rest = n.substr(5 + 64 + 1);
      const auto mode = parse_env_mode(rest.substr(0, rest.find('-')));
      if (mode) free = lock_is_free(entry_paths(root, key, *mode).build_lock);
    }
    if (free) {
      report.freed_bytes += tree_bytes(d.path());
      fs::remove_all(d.path(), ec);
      report.removed.push_back(d.path().string());
    }
  }
  // 2. Entries: by age, then least recently used first until under the size limit.
  auto entries = list_entries(root);
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.last_used < b.last_used; });
  std::uint64_t total = 0;
  for (const auto& e : entries) total += e.bytes;
  const auto now = std::chrono::system_clock::now();
  std::vector<fs::path> live_venvs;
  for (const auto& e : entries) {
    const bool too_old = max_age && now - e.last_used > *max_age;
    const bool too_big = max_bytes && total > *max_bytes;
    if (!too_old && !too_big) {
      if (e.mode == EnvMode::inplace) live_venvs.push_back(e.venv_path);
      continue;
    }
    const auto p = entry_paths(root, e.key, e.mode);
    auto use = fs::exists(p.use_lock, ec)
                   ? util::lock_file(p.use_lock, std::chrono::milliseconds(0))
                   : util::Result<util::FileLock>(util::FileLock());
    if (!use) {
      report.kept_in_use.push_back(e.dir.string());
      if (e.mode == EnvMode::inplace) live_venvs.push_back(e.venv_path);
      continue;
    }
    reject_entry(root, e.dir);
    if (e.mode == EnvMode::inplace) fs::remove_all(e.venv_path, ec);
    report.removed.push_back(e.dir.string());
    report.freed_bytes += e.bytes;
    total -= e.bytes;
  }
  // 3. In-place venvs no manifest names, no builder holds and no runner uses. An entry
  // published after step 2 listed the entries names its venv now: look again, under the
  // entry's use lock (held exclusively, so no runner can start using it meanwhile).
  for (const auto& d : fs::directory_iterator(root / "venvs", ec)) {
    if (std::find(live_venvs.begin(), live_venvs.end(), d.path()) != live_venvs.end()) continue;
    const auto n = d.path().filename().string();
    if (n.size() < 64 || !is_hex(std::string_view(n).substr(0, 64), 64)) continue;
    const auto p = entry_paths(root, n.substr(0, 64), EnvMode::inplace);
    if (!lock_is_free(p.build_lock)) continue;
    auto use = util::lock_file(p.use_lock, std::chrono::milliseconds(0));
    if (!use) {
      report.kept_in_use.push_back(d.path().string());
      continue;
    }
    std::string error;
    const auto now_named = read_entry(p.dir, error);
    if (now_named && now_named->venv_path == d.path()) continue;
    report.freed_bytes += tree_bytes(d.path());
    fs::remove_all(d.path(), ec);
    report.removed.push_back(d.path().string());
  }
  report.remaining_bytes = total;
  return report;
}

}  // namespace taskrunner::environment
