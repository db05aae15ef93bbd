#pragma once
// Validation of Python requirement specifiers and requirements files.
// Rules: PEP 508 (dependency specification), PEP 503 (name normalisation), and pip's
// requirements-file format (https://pip.pypa.io/en/stable/reference/requirements-file-format/).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "taskrunner/util/result.hpp"

namespace taskrunner::spec {

/// Checks one PEP 508 requirement: name, optional [extras], optional version specifiers
/// (bare or in parentheses) or "@ URL" (http, https or file), optional "; markers" using only the
/// PEP 508 marker variables. Anything else — shell metacharacters such as `$(`, backticks, `|`,
/// newlines, unknown marker words — is rejected.
/// Marker parentheses may nest at most kMaxMarkerDepth deep (PEP 508 sets no bound; real
/// markers use one or two levels), so a hostile requirement cannot exhaust the stack.
/// Returns std::nullopt when valid, otherwise a sentence saying what is wrong.
std::optional<std::string> check_requirement(std::string_view requirement);

/// Deepest nesting of parentheses accepted in a marker.
inline constexpr int kMaxMarkerDepth = 32;

/// PEP 503 normalised name: lower case, runs of [-_.] replaced by a single '-'.
std::string normalize_name(std::string_view name);

/// The distribution name at the start of a valid requirement ("pandas>=2" → "pandas").
std::string requirement_name(std::string_view requirement);

/// Splits a PYTHON_DEPS value into requirements. Separators are commas and/or white space;
/// a piece that starts with a comparison operator ("<3", ">= 2") continues the previous
/// requirement, so "pandas>=2,<3, numpy" gives {"pandas>=2,<3", "numpy"}. Markers and URLs are
/// not supported here (use REQUIREMENTS); validity is checked separately.
std::vector<std::string> split_deps(std::string_view value);

/// One requirement from a requirements file, with the hashes given for it.
struct RequirementLine {
  std::string requirement;          ///< the PEP 508 text
  std::vector<std::string> hashes;  ///< "sha256:<hex>" values of --hash options
  int line = 0;                     ///< 1-based line number in the source
};

/// Parses requirements.txt content: comments (#), blank lines and backslash continuations are
/// handled; each line is a PEP 508 requirement optionally followed by --hash=ALGO:HEX options.
/// Every other option (-r, -c, -e, --index-url, --extra-index-url, -f, …) is rejected because
/// taskrunner alone chooses the index.
/// Fails with a message naming the line ("line 3: …").
util::Result<std::vector<RequirementLine>> parse_requirements(std::string_view text);

/// Renders requirements as a requirements file, one per line, hashes as --hash options.
std::string render_requirements(const std::vector<RequirementLine>& lines);

}  // namespace taskrunner::spec
