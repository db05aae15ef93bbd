#include "taskrunner/report/termination.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace taskrunner::report {

std::string termination_message(const Recorder& recorder, int exit_code) {
  nlohmann::ordered_json j;
  j["exit_code"] = exit_code;
  const Record* failed = nullptr;
  for (const Id id : kAllIds) {
    const Record* r = recorder.find(id);
    if (r != nullptr && (r->status == Status::failed || r->status == Status::timeout)) {
      failed = r;
      break;
    }
  }
  std::string message = "taskrunner exited with code " + std::to_string(exit_code);
  std::string hint;
  if (failed != nullptr) {
    j["checkpoint"] = name(failed->id);
    j["status"] = name(failed->status);
    if (failed->error) {
      message = failed->error->message;
      hint = failed->error->hint;
    }
  }
  const auto dump = [&] {
    j["message"] = message;
    if (!hint.empty()) j["hint"] = hint;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  // The message matters most: give it up to 2/3 of the space, the hint the rest, then trim
  // whichever is longer until the escaped JSON fits.
  const auto cap = [](std::string& text, std::size_t max) {
    if (text.size() > max) text = text.substr(0, max - 3) + "...";
  };
  cap(message, 640);
  cap(hint, 300);
  std::string out = dump();
  while (out.size() > kMaxTerminationBytes) {
    std::string& longer = hint.size() > message.size() ? hint : message;
    const std::size_t excess = out.size() - kMaxTerminationBytes;
    cap(longer, longer.size() > excess + 16 ? longer.size() - excess : 16);
    out = dump();
  }
  return out;
}

util::Status write_termination_message(const std::filesystem::path& path,
                                       const std::string& message) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return {util::errno_message("cannot open termination log", path, errno)};
  const int err = util::write_all(fd, message.data(), message.size());
  ::close(fd);
  if (err != 0) return {util::errno_message("cannot write termination log", path, err)};
  return {};
}

}  // namespace taskrunner::report
