#include "taskrunner/report/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace taskrunner::report {
namespace {

std::atomic<int> g_log_fd{-1};
std::mutex g_early_mutex;
std::vector<std::string> g_early_events;  // event lines emitted before the log file was open
constexpr std::size_t kMaxEarlyEvents = 64;

/// Writes each formatted message with write(2) to stderr and the log file, so that our own
/// lines and the raw child bytes (also written with write(2)) keep their order in both places.
class TeeSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    (void)util::write_all(STDERR_FILENO, buf.data(), buf.size());
    const int fd = g_log_fd.load();
    if (fd >= 0) (void)util::write_all(fd, buf.data(), buf.size());
  }
  void flush_() override {}
};

std::shared_ptr<spdlog::logger> g_log;
std::shared_ptr<spdlog::logger> g_events;

}  // namespace

void init_logging() {
  if (g_log) return;
  auto human = std::make_shared<TeeSink>();
  human->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      "%Y-%m-%dT%H:%M:%S.%eZ taskrunner %l: %v", spdlog::pattern_time_type::utc));
  g_log = std::make_shared<spdlog::logger>("taskrunner", human);
  g_log->set_level(spdlog::level::info);
  auto raw = std::make_shared<TeeSink>();
  raw->set_formatter(std::make_unique<spdlog::pattern_formatter>("%v"));
  g_events = std::make_shared<spdlog::logger>("events", raw);
}

spdlog::logger& log() {
  init_logging();
  return *g_log;
}

void emit_event(const std::string& line) {
  init_logging();
  g_events->info(line);
  if (g_log_fd.load() < 0) {
    const std::lock_guard<std::mutex> lock(g_early_mutex);
    if (g_early_events.size() < kMaxEarlyEvents) g_early_events.push_back(line + "\n");
  }
}

util::Status open_log_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return {util::errno_message("cannot open log file", path, errno)};
  {
    const std::lock_guard<std::mutex> lock(g_early_mutex);
    for (const auto& line : g_early_events) (void)util::write_all(fd, line.data(), line.size());
    g_early_events.clear();
  }
  const int old = g_log_fd.exchange(fd);
  if (old >= 0) ::close(old);
  return {};
}

int log_file_fd() { return g_log_fd.load(); }

}  // namespace taskrunner::report
