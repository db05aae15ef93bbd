#include "taskrunner/tools/python.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <vector>

#include "taskrunner/util/fs.hpp"
#include "taskrunner/util/hash.hpp"

namespace taskrunner::tools {
namespace {

constexpr const char* kProbe =
    "import sys, platform, importlib.util; print(sys.executable); "
    "print(platform.python_version()); print(int(importlib.util.find_spec('pip') is not None))";

std::string cache_key(const std::filesystem::path& p, const util::EnvMap& env) {
  const auto identity = file_identity(p);
  if (identity.empty()) return {};
  return "v3|" + identity + "|" + util::get(env, "PYENV_VERSION").value_or("");
}

nlohmann::json record_of(const std::string& key, const Interpreter& interp) {
  return {{"key", key},
          {"executable", interp.executable.string()},
          {"version", interp.version},
          {"has_pip", interp.has_pip}};
}

std::string record_mac(const std::string& signing_key, const nlohmann::json& record) {
  return util::hmac_sha256_hex(signing_key, record["key"].get<std::string>() + "\n" +
                                                record["executable"].get<std::string>() + "\n" +
                                                record["version"].get<std::string>() + "\n" +
                                                (record["has_pip"].get<bool>() ? "1" : "0"));
}

bool plausible_version(const std::string& v) {
  static const std::regex kVersion(R"(^[0-9]{1,2}\.[0-9]{1,3}(\.[0-9]{1,3})?[a-z0-9+]{0,16}$)");
  return std::regex_match(v, kVersion);
}

/// The record in `path` for `key`, when it is well-formed (and, for a shared one, trustworthy).
std::optional<Interpreter> read_record(const std::filesystem::path& path, const std::string& key,
                                       const Interpreter& requested, bool shared,
                                       const std::optional<std::string>& signing_key) {
  const auto found = read_probe_record(path, key);
  if (!found) return std::nullopt;
  const auto& doc = *found;
  for (const char* f : {"executable", "version"}) {
    if (!doc.contains(f) || !doc[f].is_string()) return std::nullopt;
  }
  if (!doc.contains("has_pip") || !doc["has_pip"].is_boolean()) return std::nullopt;
  Interpreter interp = requested;
  interp.executable = doc["executable"].get<std::string>();
  interp.version = doc["version"].get<std::string>();
  interp.has_pip = doc["has_pip"].get<bool>();
  if (interp.executable.empty() || ::access(interp.executable.c_str(), X_OK) != 0) {
    return std::nullopt;
  }
  if (shared) {
    std::error_code ec;
    const auto resolved = std::filesystem::canonical(requested.requested, ec);
    if (interp.executable != requested.requested && (ec || interp.executable != resolved)) {
      return std::nullopt;
    }
    if (!plausible_version(interp.version)) return std::nullopt;
    if (signing_key && !mac_matches(doc, record_mac(*signing_key, doc))) return std::nullopt;
  }
  interp.from_cache = true;
  return interp;
}

}  // namespace

util::Result<Interpreter> resolve_interpreter(const std::string& name, const util::EnvMap& env,
                                              const std::filesystem::path& work_dir,
                                              execution::ProcessRunner& runner,
                                              const SharedInterpreterRecords& shared) {
  const auto found = execution::find_on_path(name, util::get(env, "PATH").value_or(""));
  if (!found) return util::Status{"no Python interpreter '" + name + "' (searched PATH)"};
  Interpreter interp;
  interp.requested = std::filesystem::absolute(*found);
  const auto cache_file = work_dir / "python-resolve.json";
  const auto key = cache_key(interp.requested, env);
  if (auto cached = read_record(cache_file, key, interp, false, std::nullopt)) return *cached;
  const auto shared_file = shared_record_file(shared, key);
  if (shared_file) {
    if (auto cached = read_record(*shared_file, key, interp, true, shared.signing_key)) {
      // This pod's own copy, so that the next lookup in this work dir reads no volume.
      (void)util::write_file_atomic(cache_file, record_of(key, *cached).dump() + "\n");
      return *cached;
    }
  }

  const auto r = execution::run_probe(
      runner, {interp.requested, {"-c", kProbe}, env, std::nullopt, std::nullopt}, 8192,
      std::chrono::seconds(30));
  if (!r.started || r.exit_code != 0) {
    return util::Status{"Python interpreter " + interp.requested.string() + " did not start" +
                        (r.started
                             ? " (exit code " + std::to_string(r.exit_code) + "): " + r.output_tail
                             : ": " + r.start_error)};
  }
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < r.captured_stdout.size()) {
    const auto nl = r.captured_stdout.find('\n', pos);
    lines.push_back(r.captured_stdout.substr(pos, nl == std::string::npos ? nl : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  if (!lines.empty()) interp.executable = lines[0];
  if (lines.size() > 1) interp.version = lines[1];
  interp.has_pip = lines.size() > 2 && lines[2] == "1";
  if (interp.executable.empty()) interp.executable = interp.requested;
  if (!key.empty()) {
    auto doc = record_of(key, interp);
    (void)util::write_file_atomic(cache_file, doc.dump() + "\n");
    if (shared_file) {
      if (shared.signing_key) doc["mac"] = record_mac(*shared.signing_key, doc);
      (void)util::write_file_atomic(*shared_file, doc.dump() + "\n");
    }
  }
  return interp;
}

}  // namespace taskrunner::tools
