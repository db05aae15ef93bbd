#pragma once
// Validation of nixpkgs attribute paths named in SYSTEM_DEPS.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskrunner::spec {

/// Checks a nixpkgs attribute path such as "gcc", "python311Packages.numpy" or "gnumake":
/// dot-separated Nix identifiers ([A-Za-z_][A-Za-z0-9_'-]*, Nix manual "Identifiers").
/// Store paths, "..", quotes, spaces and shell metacharacters are rejected.
/// Returns std::nullopt when valid, otherwise what is wrong.
std::optional<std::string> check_nix_attribute(std::string_view attr);

/// Splits SYSTEM_DEPS (separated by white space and/or commas) into attribute paths.
std::vector<std::string> split_system_deps(std::string_view value);

}  // namespace taskrunner::spec
