#pragma once
// taskrunner's own messages (spdlog, to stderr and the log file) and the shared log-file
// descriptor that child output is teed into.
#include <filesystem>
#include <string>

#include <spdlog/logger.h>

#include "taskrunner/util/fs.hpp"

namespace taskrunner::report {

/// Sets up the two loggers: "taskrunner" for human messages
/// ("2026-11-22T03:17:45.123Z taskrunner info: ...", UTC) and "events" for JSON lines (raw).
/// Both write to stderr and, once open_log_file() succeeded, to the log file. Idempotent.
void init_logging();

/// Human-readable logger.
spdlog::logger& log();

/// Writes one JSON event line (a newline is appended) to stderr and the log file.
void emit_event(const std::string& line);

/// Opens `path` for appending (O_APPEND | O_CLOEXEC, mode 0644, created if missing) as the run's
/// log file (<results>/taskrunner.log). Event lines emitted before (at most 64, e.g. the `spec`
/// checkpoint) are written into it first, so the file holds every event. Returns an errno
/// message on failure.
util::Status open_log_file(const std::filesystem::path& path);

/// Descriptor of the log file, or -1 when none is open. Child output is written here too.
int log_file_fd();

}  // namespace taskrunner::report
