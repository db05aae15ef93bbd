#pragma once
// `taskrunner report CHECKPOINTS_JSON [--svg OUT]` (one run as a timeline) and
// `taskrunner report --summary [--json] DIR...` (many runs at once, report/summary.hpp).
#include <string>
#include <vector>

namespace taskrunner::app {

/// `args` are the words after `report`. Returns the exit code: 0; 2 for bad usage or a file that
/// is not a checkpoints.json document (single-run form); 125 when the SVG cannot be written.
/// The summary form exits 0 even when some files were skipped (they are counted), 2 when no run
/// was found at all.
int report_main(const std::vector<std::string>& args);

}  // namespace taskrunner::app
