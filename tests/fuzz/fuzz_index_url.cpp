// Fuzz target: index URL parsing and redaction (spec/index_url.hpp). The user-info of a URL
// (as Boost.URL reads it, like redact_url) must never survive redaction; redaction is idempotent.
#include <boost/url/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "taskrunner/spec/index_url.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace spec = taskrunner::spec;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto redacted = spec::redact_url(text);
  (void)spec::parse_index_url(text);
  if (spec::redact_url(redacted) != redacted) std::abort();
  // Read back, the redacted URL's user-info is "***" or absent, and present when the input had
  // one. (The same text may still appear in the path: "http://u@h://u@x" keeps "//u@x".)
  const auto in = boost::urls::parse_uri_reference(text);
  const auto out = boost::urls::parse_uri_reference(redacted);
  if (in && in->has_userinfo()) {
    if (!out || !out->has_userinfo() || out->encoded_userinfo() != "***") std::abort();
  }
  return 0;
}
