// Fuzz target: requirements.lock (spec/lock.hpp) and the pip installation report it is made from
// (environment/resolved_lock.hpp). An accepted lock renders to text that parses to the same pins.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "taskrunner/environment/resolved_lock.hpp"
#include "taskrunner/spec/lock.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace spec = taskrunner::spec;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (const auto lock = spec::parse_lock(text)) {
    const auto again = spec::parse_lock(spec::render_lock(*lock));
    if (!again || spec::lock_digest(*again) != spec::lock_digest(*lock)) std::abort();
    (void)spec::lock_requirements(*lock);
    (void)spec::lock_mismatch(*lock, "3.11", "linux");
  }
  if (const auto lock = taskrunner::environment::lock_from_pip_report(text)) {
    (void)spec::render_lock(*lock);
  }
  return 0;
}
