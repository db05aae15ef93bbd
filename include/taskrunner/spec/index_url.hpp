#pragma once
// Package index URLs: parsing for the network check, and redaction of credentials so they never
// reach a log line or a record.
#include <optional>
#include <string>
#include <string_view>

#include "taskrunner/util/result.hpp"

namespace taskrunner::spec {

/// The parts of an index URL the runner needs.
struct IndexEndpoint {
  std::string scheme;  ///< "http" or "https"
  std::string host;    ///< host name or address, without brackets
  std::string port;    ///< explicit port, or the scheme's default ("80" / "443")
  std::string target;  ///< path and query for an HTTP request, at least "/"
};

/// The PyPI simple index, used by pip and uv when no index is configured.
inline constexpr std::string_view kDefaultIndexUrl = "https://pypi.org/simple";

/// Parses an http(s) URL with Boost.URL (RFC 3986). Fails, with credentials redacted from the
/// message, for anything that is not an absolute http or https URL with a host.
util::Result<IndexEndpoint> parse_index_url(std::string_view url);

/// The URL with any user-info replaced by "***" ("https://u:p@h/simple" → "https://***@h/simple").
/// Unparseable input is returned as "<invalid URL>" so nothing secret can leak through it.
std::string redact_url(std::string_view url);

}  // namespace taskrunner::spec
