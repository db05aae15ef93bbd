// Fuzz target: snapshot restore (environment::restore_snapshot) of an archive from the shared
// volume into a fresh directory. The input is the archive (tar, or tar.zst) and the expected
// digest is its own, so every entry is extracted. Nothing may land outside the target: after
// each run the scratch dir holds only the target (or nothing), and no symlink points out.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "taskrunner/environment/snapshot.hpp"
#include "taskrunner/util/hash.hpp"

namespace {

const std::filesystem::path& initial_cwd() {
  static const std::filesystem::path cwd = std::filesystem::current_path();
  return cwd;
}

const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fuzz-snapshot-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  const auto& cwd = initial_cwd();
  const auto& dir = scratch();
  const auto box = dir / "box";  // the target's parent: anything escaping lands here
  const auto archive = dir / "venv.tar.zst";
  const auto target = box / "venv";
  std::error_code ec;
  fs::remove_all(box, ec);
  fs::create_directories(box);
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::ofstream(archive, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const auto r = taskrunner::environment::restore_snapshot(
      archive, target, taskrunner::util::sha256_hex(bytes), size);
  for (const auto& e : fs::directory_iterator(box)) {
    if (e.path() != target) std::abort();  // an entry escaped the target
  }
  if (!r && fs::exists(target, ec)) std::abort();  // a failed restore leaves no target
  if (fs::current_path() != cwd) std::abort();     // the restore's chdir is always undone
  fs::remove_all(box, ec);
  return 0;
}
