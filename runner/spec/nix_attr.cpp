#include "taskrunner/spec/nix_attr.hpp"

#include <cctype>

#include "taskrunner/util/text.hpp"

namespace taskrunner::spec {

std::optional<std::string> check_nix_attribute(std::string_view attr) {
  if (attr.empty()) return "is empty";
  if (attr.size() > 200) return "is longer than 200 characters";
  if (attr.front() == '/') return "is a path; name a nixpkgs attribute (e.g. gcc) instead";
  std::size_t start = 0;
  for (;;) {
    const auto dot = attr.find('.', start);
    const auto part = attr.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (part.empty()) return "has an empty component (\"..\" or a leading/trailing dot)";
    const auto first = static_cast<unsigned char>(part.front());
    if (std::isalpha(first) == 0 && first != '_') {
      return "component '" + std::string(part) + "' must start with a letter or '_'";
    }
    for (const char ch : part) {
      const auto u = static_cast<unsigned char>(ch);
      if (std::isalnum(u) == 0 && ch != '_' && ch != '-' && ch != '\'') {
        std::string shown =
            (u < 0x20 || u == 0x7f) ? "a control character" : std::string("'") + ch + "'";
        return "contains " + shown + "; an attribute path is dot-separated Nix identifiers";
      }
    }
    if (dot == std::string_view::npos) return std::nullopt;
    start = dot + 1;
  }
}

std::vector<std::string> split_system_deps(std::string_view value) {
  return util::split_list(value);
}

}  // namespace taskrunner::spec
