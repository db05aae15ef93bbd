#pragma once
// `network` checkpoint: can we reach the package index?
#include <chrono>
#include <string>

#include "taskrunner/report/outcome.hpp"

namespace taskrunner::preflight {

/// Resolves the index host and opens a TCP connection to it within `timeout` (ms), with
/// Boost.Asio. ok with the address and connect time; failed with a hint that distinguishes DNS
/// failure, connection refused and timeout. `index_url` may carry credentials: only its redacted
/// form is recorded. `needed` false → skipped (no package to download).
report::Outcome check_network(bool needed, const std::string& index_url,
                              std::chrono::milliseconds timeout);

}  // namespace taskrunner::preflight
