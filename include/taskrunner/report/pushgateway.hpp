#pragma once
// Pushing a run's metrics to a Prometheus Pushgateway (https://github.com/prometheus/pushgateway,
// "API": PUT /metrics/job/<JOB>{/<LABEL>/<VALUE>} replaces the whole group).
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "taskrunner/util/result.hpp"

namespace taskrunner::report {

/// The URL path of a group: "metrics" followed by each (label, value) of `grouping`, job first,
/// every value base64url-encoded with the `@base64` suffix on its label (the Pushgateway's rule
/// for values that may hold `/` or be empty; an empty value is "="). Labels are used as given
/// and must match [a-zA-Z_][a-zA-Z0-9_]*.
std::string pushgateway_group_path(
    const std::vector<std::pair<std::string, std::string>>& grouping);

/// PUTs `body` (text exposition format) to `<base_url>/metrics/…` (pushgateway_group_path) over
/// HTTP/1.1, the whole exchange — name lookup, connect, request, answer — bounded by `timeout`
/// (ms). `base_url` must be an http:// URL (https is refused: no TLS in the static binary) and
/// may carry a path prefix. Fails with the reason: unparsable URL, lookup/connect error, timeout,
/// or the Pushgateway's non-2xx status with the start of its answer. Never throws.
util::Status push_metrics(const std::string& base_url,
                          const std::vector<std::pair<std::string, std::string>>& grouping,
                          const std::string& body, std::chrono::milliseconds timeout);

}  // namespace taskrunner::report
