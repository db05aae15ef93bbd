#pragma once
// What a checkpoint's work produces when it does not throw: its terminal status, the detail to
// record, and an error with a hint for `warn` and `failed` (docs/checkpoints.md). Every step of
// the pipeline returns one; report::Recorder::finish() records it.
#include <optional>

#include <nlohmann/json.hpp>

#include "taskrunner/report/checkpoint.hpp"

namespace taskrunner::report {

struct Outcome {
  Status status = Status::ok;
  nlohmann::json detail = nlohmann::json::object();
  std::optional<ErrorInfo> error;  ///< set for warn (what to fix) and failures
};

}  // namespace taskrunner::report
