#include "taskrunner/environment/snapshot.hpp"
#include "testutil.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <tuple>

#include <filesystem>
#include <fstream>

#include "taskrunner/environment/env_cache.hpp"
#include "taskrunner/environment/env_key.hpp"

namespace fs = std::filesystem;
using namespace taskrunner::environment;

namespace {
using testutil::TempDir;
void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}
std::string read(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
/// A tar.zst holding one entry named `name` (as an attacker would craft it).
/// An archive of `entries`: {path, kind ('f' file, 'l' symlink, 'h' hard link), link target}.
void craft_entries(const fs::path& archive_path,
                   const std::vector<std::tuple<std::string, char, std::string>>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_zstd(a);
  archive_write_open_filename(a, archive_path.c_str());
  for (const auto& [name, kind, target] : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_perm(e, 0644);
    if (kind == 'l') {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, target.c_str());
    } else if (kind == 'h') {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_hardlink(e, target.c_str());
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_size(e, 4);
    }
    archive_write_header(a, e);
    if (kind == 'f') archive_write_data(a, "evil", 4);
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

/// Restores `archive` (whose own digest is expected) into `out`: it must fail as unsafe and
/// leave no `out` behind. `what` names the case in failure messages.
void expect_refused_as_unsafe(const fs::path& archive, const fs::path& out,
                              const std::string& what) {
  const auto sha = sha256_file(archive);
  ASSERT_TRUE(sha);
  const auto back = restore_snapshot(archive, out, *sha, fs::file_size(archive));
  EXPECT_FALSE(back) << what;
  EXPECT_NE(back.error().find("unsafe"), std::string::npos) << back.error();
  EXPECT_FALSE(fs::exists(out)) << what;
}

/// An archive holding one 4-byte file named `name`.
void craft(const fs::path& archive_path, const char* name) {
  craft_entries(archive_path, {{name, 'f', ""}});
}
}  // namespace

// The restore tracks the symlinks it made instead of libarchive's per-component lstat walk
// (ARCHIVE_EXTRACT_SECURE_SYMLINKS): the same archives must still be refused.
TEST(Snapshot, EntriesThroughASymlinkTheArchiveMadeAreRefused) {
  TempDir t;
  const auto outside = t.path / "outside";
  fs::create_directories(outside);
  const std::vector<std::vector<std::tuple<std::string, char, std::string>>> cases = {
      {{"link", 'l', outside.string()}, {"link/escaped", 'f', ""}},
      {{"./d/link", 'l', outside.string()}, {"d//link/./escaped", 'f', ""}},
      {{"up", 'l', ".."}, {"up/escaped", 'f', ""}},
      {{"link", 'l', outside.string()}, {"link", 'f', ""}},
      {{"f", 'f', ""}, {"link", 'l', outside.string()}, {"h", 'h', "link/escaped"}},
      {{"h", 'h', "/etc/passwd"}},
  };
  for (const auto& entries : cases) {
    const auto archive = t.path / "evil.tar.zst";
    craft_entries(archive, entries);
    expect_refused_as_unsafe(archive, t.path / "out", std::get<0>(entries.back()));
    EXPECT_TRUE(fs::is_empty(outside)) << std::get<0>(entries.back());
  }
  // A symlink beside, not above, later entries is fine (a venv's lib64 -> lib).
  craft_entries(t.path / "ok.tar.zst", {{"lib/x.py", 'f', ""},
                                        {"lib64", 'l', "lib"},
                                        {"lib/y.py", 'f', ""},
                                        {"lib64x/z.py", 'f', ""}});
  const auto sha = sha256_file(t.path / "ok.tar.zst");
  ASSERT_TRUE(sha);
  const auto ok = restore_snapshot(t.path / "ok.tar.zst", t.path / "ok", *sha,
                                   fs::file_size(t.path / "ok.tar.zst"));
  EXPECT_TRUE(ok) << ok.error();
}

TEST(Snapshot, RoundTripKeepsFilesModesAndSymlinks) {
  TempDir t;
  const auto venv = t.path / "venv";
  write(venv / "lib/site-packages/six.py", "x = 1\n");
  write(venv / "bin/tool", "#!/bin/sh\n");
  fs::permissions(venv / "bin/tool", fs::perms::owner_all);
  fs::create_symlink("/usr/bin/python3", venv / "bin/python");
  const auto info = write_snapshot(venv, t.path / "s.tar.zst");
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->content_bytes, 16U);
  const auto out = t.path / "restored";
  const auto back = restore_snapshot(t.path / "s.tar.zst", out, info->sha256, info->archive_bytes);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->sha256, info->sha256);
  EXPECT_EQ(read(out / "lib/site-packages/six.py"), "x = 1\n");
  EXPECT_EQ(fs::read_symlink(out / "bin/python"), "/usr/bin/python3");
  EXPECT_TRUE((fs::status(out / "bin/tool").permissions() & fs::perms::owner_exec) !=
              fs::perms::none);
}

TEST(Snapshot, MismatchedArchiveIsRejectedAndNothingIsLeft) {
  TempDir t;
  write(t.path / "venv/a.py", "a");
  const auto info = write_snapshot(t.path / "venv", t.path / "s.tar.zst");
  ASSERT_TRUE(info);
  const auto out = t.path / "restored";
  const auto bad =
      restore_snapshot(t.path / "s.tar.zst", out, std::string(64, '0'), info->archive_bytes);
  EXPECT_FALSE(bad);
  EXPECT_NE(bad.error().find("does not match its manifest"), std::string::npos) << bad.error();
  EXPECT_FALSE(fs::exists(out));
  fs::resize_file(t.path / "s.tar.zst", info->archive_bytes / 2);  // truncated
  EXPECT_FALSE(restore_snapshot(t.path / "s.tar.zst", out, info->sha256, info->archive_bytes));
  EXPECT_FALSE(fs::exists(out));
}

TEST(Snapshot, UnsafeEntriesAreRefused) {
  TempDir t;
  for (const char* name : {"../escaped", "/tmp/taskrunner-absolute-escape", "a/../../up"}) {
    const auto archive = t.path / "evil.tar.zst";
    craft(archive, name);
    expect_refused_as_unsafe(archive, t.path / "out", name);
    EXPECT_FALSE(fs::exists(t.path / "escaped"));
    EXPECT_FALSE(fs::exists("/tmp/taskrunner-absolute-escape"));
  }
}

// Two nodes whose flock does not exclude each other both build (tests/e2e/test_two_nodes.py): the
// later publisher keeps the valid entry already there instead of replacing it under the other
// node's readers — unless `keeps` refuses it (publish_venv: a signature that does not verify).
TEST(EnvCache, ALaterPublisherKeepsAValidEntryAndReplacesARefusedOne) {
  TempDir t;
  fs::create_directories(t.path / "envs");
  const std::string key(64, 'b');
  const auto manifest = [&](const std::string& who) {
    return nlohmann::json{{"format", kEnvFormat},
                          {"key", key},
                          {"mode", "snapshot"},
                          {"venv_path", "/tmp/v"},
                          {"by", who},
                          {"archive", {{"bytes", 3}, {"sha256", std::string(64, 'a')}}}};
  };
  const auto fill = [](const fs::path& tmp, nlohmann::json&) {
    write(tmp / "venv.tar.zst", "abc");
    return std::string();
  };
  ASSERT_TRUE(publish_entry(t.path, key, EnvMode::snapshot, manifest("first"), fill).error.empty());
  bool filled = false;
  const auto second = publish_entry(t.path, key, EnvMode::snapshot, manifest("second"),
                                    [&](const fs::path& tmp, nlohmann::json& m) {
                                      filled = true;
                                      return fill(tmp, m);
                                    });
  EXPECT_TRUE(second.error.empty()) << second.error;
  EXPECT_TRUE(second.kept_existing);
  EXPECT_FALSE(filled);  // nothing written for an entry that is not published
  EXPECT_EQ((*find_entry(t.path, key, EnvMode::snapshot))->manifest["by"], "first");
  const auto third = publish_entry(t.path, key, EnvMode::snapshot, manifest("third"), fill,
                                   [](const Entry&) { return false; });
  EXPECT_TRUE(third.error.empty()) << third.error;
  EXPECT_FALSE(third.kept_existing);
  EXPECT_EQ((*find_entry(t.path, key, EnvMode::snapshot))->manifest["by"], "third");
  EXPECT_EQ(std::distance(fs::directory_iterator(t.path / "envs"), fs::directory_iterator()), 1);
}

TEST(EnvCache, PublishIsAtomicAndPruneRemovesDeadTempDirs) {
  TempDir t;
  fs::create_directories(t.path / "envs");
  const std::string key(64, 'a');
  // A publish whose fill fails leaves nothing: no entry, no temp dir (a full volume).
  const auto failed = publish_entry(t.path, key, EnvMode::snapshot, {{"format", kEnvFormat}},
                                    [](const fs::path& tmp, nlohmann::json&) {
                                      write(tmp / "venv.tar.zst", "partial");
                                      return std::string("disk full");
                                    });
  EXPECT_EQ(failed.error, "disk full");
  EXPECT_TRUE(fs::is_empty(t.path / "envs"));
  // What a killed builder leaves: its temp dir.
  write(t.path / "envs" / (".tmp-" + key + "-snapshot-1-0") / "venv.tar.zst", "partial");
  std::string error;
  EXPECT_FALSE(*find_entry(t.path, key, EnvMode::snapshot));
  EXPECT_TRUE(list_entries(t.path).empty());
  const nlohmann::json manifest = {{"format", kEnvFormat},
                                   {"key", key},
                                   {"mode", "snapshot"},
                                   {"venv_path", "/tmp/v"},
                                   {"archive", {{"bytes", 10}, {"sha256", std::string(64, 'a')}}}};
  // The archive's real size must be what the manifest says.
  const auto ok = publish_entry(t.path, key, EnvMode::snapshot, manifest,
                                [](const fs::path& tmp, nlohmann::json&) {
                                  write(tmp / "venv.tar.zst", "0123456789");
                                  return std::string();
                                });
  ASSERT_TRUE(ok.error.empty()) << ok.error;
  const auto found = find_entry(t.path, key, EnvMode::snapshot);
  ASSERT_TRUE(found && *found) << found.error();
  const auto& e = *found;
  EXPECT_EQ(e->bytes, 10U);
  record_hit(*e);
  record_hit(*e);
  EXPECT_EQ((*find_entry(t.path, key, EnvMode::snapshot))->hits, 2U);
  // The killed builder's temp dir: no builder holds the key's lock, so prune removes it.
  const auto report = prune(t.path, std::nullopt, std::nullopt);
  ASSERT_EQ(report.removed.size(), 1U);
  EXPECT_NE(report.removed[0].find("/envs/.tmp-"), std::string::npos);
  EXPECT_EQ(list_entries(t.path).size(), 1U);
  EXPECT_EQ(prune(t.path, 0, std::nullopt).removed.size(), 1U);
  EXPECT_TRUE(list_entries(t.path).empty());
}

TEST(EnvCache, MalformedManifestsAreRejectedNeverThrown) {
  TempDir t;
  const std::string key(64, 'c');
  const auto p = entry_paths(t.path, key, EnvMode::snapshot);
  const nlohmann::json good = {{"format", kEnvFormat},
                               {"key", key},
                               {"mode", "snapshot"},
                               {"venv_path", "/tmp/v"},
                               {"archive", {{"bytes", 10}, {"sha256", std::string(64, 'b')}}}};
  const auto with = [&](const char* field, const nlohmann::json& value) {
    auto m = good;
    if (value.is_discarded()) {
      m.erase(field);
    } else {
      m[field] = value;
    }
    return m.dump();
  };
  const nlohmann::json gone = nlohmann::json::value_t::discarded;
  for (const std::string& text :
       {std::string("not json"), std::string("[1, 2]"), std::string("{}"),
        with("format", kEnvFormat + 1), with("format", "1"), with("key", 7), with("mode", "fast"),
        with("venv_path", gone), with("archive", gone), with("archive", {{"bytes", 10}}),
        with("archive", {{"bytes", -1}, {"sha256", std::string(64, 'b')}}),
        with("archive", {{"bytes", 10}, {"sha256", "short"}}), with("key", std::string(64, 'd')),
        with("archive", {{"bytes", 11}, {"sha256", std::string(64, 'b')}})}) {
    std::filesystem::create_directories(p.dir);
    write(p.dir / "venv.tar.zst", "0123456789");
    write(p.manifest, text);
    std::string error;
    EXPECT_NO_THROW(error = find_entry(t.path, key, EnvMode::snapshot).error()) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
  write(p.manifest, good.dump());
  const auto e = find_entry(t.path, key, EnvMode::snapshot);
  ASSERT_TRUE(e && *e) << e.error();
  EXPECT_EQ((*e)->archive_sha256, std::string(64, 'b'));
  // A manifest reached through a symlink is refused.
  fs::remove(p.manifest);
  write(t.path / "elsewhere.json", good.dump());
  fs::create_symlink(t.path / "elsewhere.json", p.manifest);
  EXPECT_FALSE(find_entry(t.path, key, EnvMode::snapshot));
}

TEST(EnvCache, InPlaceManifestsNameOnlyTheirOwnVenv) {
  TempDir t;
  const std::string key(64, 'e');
  const auto p = entry_paths(t.path, key, EnvMode::inplace);
  fs::create_directories(p.dir);
  const auto own = (t.path / "venvs" / (key + "-0123456789abcdef")).string();
  for (const auto& [venv_path, bytes, valid] :
       std::vector<std::tuple<std::string, std::uint64_t, bool>>{
           {own, 100, true},
           {"/tmp/victim", 100, false},
           {(t.path / "venvs" / (std::string(64, 'f') + "-0123456789abcdef")).string(), 100, false},
           {(t.path / "venvs" / (key + "-0123456789abcdef") / "..").string(), 100, false},
           {own, kMaxEntryBytes + 1, false}}) {
    write(p.manifest, nlohmann::json{{"format", kEnvFormat},
                                     {"key", key},
                                     {"mode", "inplace"},
                                     {"venv_path", venv_path},
                                     {"venv_bytes", bytes}}
                          .dump());
    EXPECT_EQ(find_entry(t.path, key, EnvMode::inplace).ok(), valid) << venv_path << " " << bytes;
  }
}

TEST(EnvCache, ModeChoice) {
  EXPECT_EQ(parse_env_mode("auto"), EnvMode::automatic);
  EXPECT_FALSE(parse_env_mode("fast"));
  EXPECT_TRUE(is_network_filesystem("nfs"));
  EXPECT_TRUE(is_network_filesystem("fuse"));
  EXPECT_FALSE(is_network_filesystem("ext4"));
  EXPECT_EQ(choose_mode(EnvMode::snapshot, "/tmp"), EnvMode::snapshot);
  // /tmp here is a local file system: auto keeps the venv in place.
  EXPECT_EQ(choose_mode(EnvMode::automatic, "/tmp"),
            is_network_filesystem(filesystem_type("/tmp")) ? EnvMode::snapshot : EnvMode::inplace);
}

TEST(EnvCache, AnEntryKeepsItsLockAndRefusesAChangedOne) {
  TempDir t;
  const std::string key(64, 'a');
  const auto venv = t.path / "venv";
  write(venv / "bin" / "python", "#!");
  const std::string text = "six==1.16.0 --hash=sha256:" + std::string(64, '3') + "\n";
  const LockToPublish lock{text, std::string(64, 'd'), 1, false, "2026-12-01T22:00:00Z"};
  const auto published = publish_venv(t.path, key, EnvMode::snapshot, venv, R"({"k": 1})", lock);
  ASSERT_TRUE(published.error.empty()) << published.error;
  auto e = find_entry(t.path, key, EnvMode::snapshot);
  ASSERT_TRUE(e && *e) << e.error();
  ASSERT_TRUE((*e)->lock);
  EXPECT_EQ((*e)->lock->digest, std::string(64, 'd'));
  EXPECT_FALSE((*e)->lock->pinned);
  const auto read = read_entry_lock(**e);
  ASSERT_TRUE(read) << read.error();
  EXPECT_EQ(*read, text);
  // Renewed: a later resolved_at, the rest untouched.
  const auto later = std::chrono::system_clock::now();
  ASSERT_TRUE(renew_resolution(**e, later).ok());
  auto renewed = find_entry(t.path, key, EnvMode::snapshot);
  ASSERT_TRUE(renewed && *renewed);
  EXPECT_GT((*renewed)->lock->resolved_at, (*e)->lock->resolved_at);
  // Someone rewrites the lock on the shared volume: it is refused, never served.
  write((*e)->dir / "requirements.lock", "six==6.6.6 --hash=sha256:" + std::string(64, '4') + "\n");
  EXPECT_FALSE(read_entry_lock(**renewed));
}
