// Fuzz target: PEP 508 requirements and markers, requirements.txt and PYTHON_DEPS splitting
// (spec/requirement.hpp). None of these may throw; an accepted requirements.txt must render to
// text that parses again to the same lines.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "taskrunner/spec/requirement.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace spec = taskrunner::spec;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (!spec::check_requirement(text)) {
    (void)spec::requirement_name(text);
    (void)spec::normalize_name(spec::requirement_name(text));
  }
  (void)spec::split_deps(text);
  const auto lines = spec::parse_requirements(text);
  if (lines) {
    const auto again = spec::parse_requirements(spec::render_requirements(*lines));
    if (!again || spec::render_requirements(*again) != spec::render_requirements(*lines)) {
      std::abort();  // render_requirements() must be a fixed point of parse_requirements()
    }
  }
  return 0;
}
