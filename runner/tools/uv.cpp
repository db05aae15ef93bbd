#include "taskrunner/tools/uv.hpp"

#include <regex>

#include "taskrunner/util/fs.hpp"
#include "taskrunner/util/hash.hpp"

namespace taskrunner::tools {
namespace {

/// What a record's HMAC covers.
std::string version_mac(const std::string& signing_key, const std::string& key,
                        const std::string& version) {
  return util::hmac_sha256_hex(signing_key, "uv-version\n" + key + "\n" + version);
}

/// `uv 0.11.28` or `uv 0.11.28 (a1b2c3d 2026-11-20)`: what `uv --version` prints.
bool plausible_uv_version(const std::string& v) {
  static const std::regex kVersion(R"(^uv [0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}[ -~]{0,80}$)");
  return std::regex_match(v, kVersion);
}

/// The version a shared record holds for `key`, when it is trustworthy: it names nothing but a
/// version (the binary that runs is still the one found here), of uv's form, and, with a
/// signing key, its mac verifies.
std::optional<std::string> recorded_version(const SharedProbeRecords& shared,
                                            const std::string& key) {
  if (!shared.dir || key.empty()) return std::nullopt;
  const auto doc = read_probe_record(probe_record_path(*shared.dir, key), key);
  if (!doc || !doc->contains("version") || !(*doc)["version"].is_string()) return std::nullopt;
  const auto version = (*doc)["version"].get<std::string>();
  if (!plausible_uv_version(version)) return std::nullopt;
  if (shared.signing_key && !mac_matches(*doc, version_mac(*shared.signing_key, key, version))) {
    return std::nullopt;
  }
  return version;
}

void record_version(const SharedProbeRecords& shared, const std::string& key,
                    const std::string& version) {
  if (!plausible_uv_version(version)) return;
  const auto file = shared_record_file(shared, key);
  if (!file) return;
  nlohmann::json doc = {{"key", key}, {"version", version}};
  if (shared.signing_key) doc["mac"] = version_mac(*shared.signing_key, key, version);
  (void)util::write_file_atomic(*file, doc.dump() + "\n");
}

}  // namespace

util::Result<Installer> find_installer(const std::optional<std::string>& explicit_path,
                                       const std::filesystem::path& tools_dir,
                                       const std::string& path_var, const util::EnvMap& env,
                                       execution::ProcessRunner& runner,
                                       const SharedProbeRecords& shared) {
  Installer inst;
  std::optional<std::filesystem::path> uv;
  if (explicit_path) {
    uv = execution::find_on_path(*explicit_path, path_var);
    if (!uv) {
      return util::Status{"TASKRUNNER_UV names '" + *explicit_path +
                          "', which is not an executable file"};
    }
    inst.source = "TASKRUNNER_UV";
  } else if ((uv = execution::find_on_path((tools_dir / "uv").string(), path_var))) {
    inst.source = "tools_dir";
  } else if ((uv = execution::find_on_path("uv", path_var))) {
    inst.source = "PATH";
  }
  if (!uv) return inst;  // pip fallback

  const auto absolute = std::filesystem::absolute(*uv);
  // No identity (the file cannot be stat()ed), no key: then no record is read or written.
  const auto identity = file_identity(absolute);
  const auto key = identity.empty() ? std::string() : "uv-v1|" + identity;
  if (auto version = recorded_version(shared, key)) {
    inst.kind = InstallerKind::uv;
    inst.uv = absolute;
    inst.version = std::move(*version);
    inst.version_from_cache = true;
    return inst;
  }
  const auto r = execution::run_probe(runner, {*uv, {"--version"}, env, std::nullopt, std::nullopt},
                                      4096, std::chrono::seconds(10));
  if (!r.started || r.exit_code != 0) {
    const auto why = "uv at " + uv->string() + " does not run (`uv --version` " +
                     (r.started ? "exited with " + std::to_string(r.exit_code) : r.start_error) +
                     ")";
    if (explicit_path) return util::Status{why};
    Installer pip;  // a broken uv found by search: fall back to pip, the caller reports it
    pip.fallback_reason = why;
    return pip;
  }
  inst.kind = InstallerKind::uv;
  inst.uv = absolute;
  inst.version = r.captured_stdout.substr(0, r.captured_stdout.find('\n'));
  record_version(shared, key, inst.version);
  return inst;
}

}  // namespace taskrunner::tools
