// The two helpers around ProcessRunner that start nothing themselves: the PATH search
// (execvp(3)'s rule) and the short, untee'd probe (`uv --version`, the interpreter query).
#include <sys/stat.h>
#include <unistd.h>

#include "taskrunner/execution/process.hpp"

namespace taskrunner::execution {

std::optional<std::filesystem::path> find_on_path(const std::string& name,
                                                  const std::string& path_var) {
  const auto executable = [](const std::filesystem::path& p) {
    struct stat st {};
    // Mode bits as well as access(2): for root, access(X_OK) alone accepts any regular file.
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0 &&
           ::access(p.c_str(), X_OK) == 0;
  };
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (executable(name)) return std::filesystem::path(name);
    return std::nullopt;
  }
  std::size_t start = 0;
  while (start <= path_var.size()) {
    auto end = path_var.find(':', start);
    if (end == std::string::npos) end = path_var.size();
    const std::string dir = path_var.substr(start, end - start);
    const auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
    if (executable(candidate)) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

RunResult run_probe(ProcessRunner& runner, const Command& command, std::size_t capture_limit,
                    std::chrono::milliseconds timeout) {
  RunOptions opts;
  opts.tee = false;
  opts.capture_limit = capture_limit;
  opts.timeout = timeout;
  opts.grace = std::chrono::seconds(1);
  return runner.run(command, opts);
}

}  // namespace taskrunner::execution
