#pragma once
// Small text helpers shared by the spec parsers.
#include <string>
#include <string_view>
#include <vector>

namespace taskrunner::util {

/// Splits a list separated by commas and/or white space ("a, b  c" → {"a", "b", "c"}), the
/// format of PYTHON_DEPS and SYSTEM_DEPS. Empty items are dropped.
std::vector<std::string> split_list(std::string_view value);

}  // namespace taskrunner::util
