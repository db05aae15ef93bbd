#pragma once
// What a checkpoint's work produces: its terminal status, detail, and error/hint if any.
#include <optional>

#include <nlohmann/json.hpp>

#include "taskrunner/report/checkpoint.hpp"

namespace taskrunner::preflight {

struct Outcome {
  report::Status status = report::Status::ok;
  nlohmann::json detail = nlohmann::json::object();
  std::optional<report::ErrorInfo> error;  ///< set for warn (what to fix) and failures
};

}  // namespace taskrunner::preflight
