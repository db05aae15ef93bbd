// The internal `taskrunner nix-build-once` command (see system_env.hpp): single flight for one
// system-environment key across pods sharing a volume.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "taskrunner/environment/system_env.hpp"
#include "taskrunner/report/error.hpp"
#include "taskrunner/util/lock.hpp"

namespace taskrunner::environment {

int nix_build_once_main(const std::vector<std::string>& options,
                        const std::vector<std::string>& command) {
  std::filesystem::path lock_path;
  std::filesystem::path out_link;
  std::filesystem::path store_dir;
  for (std::size_t i = 0; i + 1 < options.size(); i += 2) {
    if (options[i] == "--lock") lock_path = options[i + 1];
    if (options[i] == "--out-link") out_link = options[i + 1];
    if (options[i] == "--store-dir") store_dir = options[i + 1];
  }
  if (lock_path.empty() || out_link.empty() || store_dir.empty() || command.empty() ||
      options.size() % 2 != 0) {
    std::cerr << "usage: taskrunner nix-build-once --lock FILE --out-link LINK --store-dir DIR "
                 "-- NIX-BUILD [ARGS...]\n";
    return report::exit_code::usage;
  }
  bool waited = false;
  auto lock = util::lock_file(lock_path, std::chrono::hours(24), &waited);
  if (!lock && util::lock_unsupported(lock.status().err)) {
    // The volume cannot flock: build without single flight (Nix's own store locks remain).
    std::cerr << "taskrunner: " << lock.error() << "; building without single flight\n";
    lock = util::FileLock();
  }
  if (!lock) {
    std::cerr << "taskrunner: " << lock.error() << "\n";
    return report::exit_code::setup_failed;
  }
  if (waited) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(out_link, ec);
    if (!ec && target.is_absolute() &&
        std::filesystem::is_directory(store_dir / target.filename(), ec)) {
      std::cout << kBuiltByOther << target.string() << std::endl;
      return 0;
    }
  }
  // Hand the lock to nix-build: the descriptor survives exec, so the lock lasts for the build.
  if (const int fd = lock->release(); fd >= 0) (void)::fcntl(fd, F_SETFD, 0);
  std::vector<char*> argv;
  argv.reserve(command.size() + 1);
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  std::cerr << "taskrunner: cannot run " << command[0] << ": " << std::strerror(errno) << "\n";
  return report::exit_code::no_interpreter;
}

}  // namespace taskrunner::environment
