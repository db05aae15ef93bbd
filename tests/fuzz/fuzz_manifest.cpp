// Fuzz target: the env-cache manifest reader (environment::find_entry, list_entries,
// read_entry_lock), which reads what any tenant may have written to the shared volume. The
// input becomes envs/<key>-{snapshot,inplace}/manifest.json and requirements.lock; a bad
// manifest must be refused with a message, never crash or throw.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "taskrunner/environment/env_cache.hpp"

namespace {

// The key the seeds use; manifests naming another are refused early (as they must be).
const std::string kKey(64, 'a');
// A fixed root, so that seed manifests can name their in-place venv path under it
// (<root>/venvs/<key>-<16 hex>). One process per harness (tests/fuzz/run.sh).
const std::filesystem::path kRoot = "/tmp/taskrunner-fuzz-manifest";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace env = taskrunner::environment;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (const auto mode : {env::EnvMode::snapshot, env::EnvMode::inplace}) {
    const auto paths = env::entry_paths(kRoot, kKey, mode);
    std::filesystem::create_directories(paths.dir);
    std::ofstream(paths.manifest, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::ofstream(paths.archive, std::ios::binary | std::ios::trunc) << "not an archive";
    std::ofstream(paths.dir / "requirements.lock", std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (const auto found = env::find_entry(kRoot, kKey, mode); found && *found) {
      (void)env::read_entry_lock(**found);
      (void)(*found)->manifest.dump();
    }
  }
  for (const auto& entry : env::list_entries(kRoot)) (void)entry.manifest.dump();
  return 0;
}
