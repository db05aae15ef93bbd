#pragma once
// `taskrunner cache status [--json]` and `taskrunner cache prune [--max-bytes N] [--max-age
// DAYS]` over the environment cache (docs/env-cache.md).
#include <string>
#include <vector>

#include "taskrunner/util/env.hpp"

namespace taskrunner::app {

/// `args` are the words after `cache`. Returns the exit code: 0, or 2 for bad usage.
int cache_main(const std::vector<std::string>& args, const util::EnvMap& env);

}  // namespace taskrunner::app
