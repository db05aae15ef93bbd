#pragma once
// The Kubernetes termination message: a short summary of why the run failed, which the kubelet
// keeps (last 4 KiB per container) and Argo shows as the node's message.
// https://kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/
#include <filesystem>
#include <string>

#include "taskrunner/report/checkpoint.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::report {

/// Maximum size of the termination message in bytes.
inline constexpr std::size_t kMaxTerminationBytes = 1024;

/// One-line JSON, at most kMaxTerminationBytes: {"exit_code", "checkpoint", "status", "message",
/// "hint"} for the first failed or timed-out checkpoint of `recorder` (message and hint are cut
/// to fit). Without such a checkpoint: {"exit_code", "message"}.
std::string termination_message(const Recorder& recorder, int exit_code);

/// Writes `message` to `path` (O_TRUNC; the kubelet reads it after the container exits).
util::Status write_termination_message(const std::filesystem::path& path,
                                       const std::string& message);

}  // namespace taskrunner::report
