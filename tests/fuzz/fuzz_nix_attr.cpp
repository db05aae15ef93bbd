// Fuzz target: nixpkgs attribute paths and SYSTEM_DEPS splitting (spec/nix_attr.hpp).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "taskrunner/spec/nix_attr.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace spec = taskrunner::spec;
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const auto& attr : spec::split_system_deps(text)) {
    if (spec::check_nix_attribute(attr)) continue;  // refused, with a reason
    // Accepted: dot-separated Nix identifiers only ([A-Za-z_][A-Za-z0-9_'-]*, ' included),
    // so no quote, blank, path separator or shell character reaches nix-portable's argv.
    for (const char ch : attr) {
      const auto u = static_cast<unsigned char>(ch);
      if (std::isalnum(u) == 0 && ch != '_' && ch != '-' && ch != '\'' && ch != '.') std::abort();
    }
  }
  (void)spec::check_nix_attribute(text);
  return 0;
}
