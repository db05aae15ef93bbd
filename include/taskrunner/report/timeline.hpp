#pragma once
// `taskrunner report`: a run's checkpoints.json as a terminal timeline or an SVG picture.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "taskrunner/util/result.hpp"

namespace taskrunner::report {

/// A readable timeline: one row per checkpoint with status, duration (ms) and a bar placed at the
/// checkpoint's start and as long as its duration, scaled to `width` characters for the whole
/// run; cache use where recorded; the error message and hint under a failed row; a total line.
/// Fails when `doc` is not a checkpoints.json document (docs/checkpoint.schema.json).
util::Result<std::string> render_timeline(const nlohmann::json& doc, std::size_t width = 40);

/// The same timeline as a standalone SVG image (one bar per checkpoint, coloured by status,
/// failure message as a tooltip), for log UIs that show pictures. Fails as render_timeline().
util::Result<std::string> render_svg(const nlohmann::json& doc);

}  // namespace taskrunner::report
