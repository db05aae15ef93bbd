#include "taskrunner/environment/env_key.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "taskrunner/spec/index_url.hpp"
#include "taskrunner/util/hash.hpp"

namespace taskrunner::environment {
namespace {

bool word(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
}

/// White space dropped, except one space between two word characters.
std::string squeeze(std::string_view text) {
  std::string out;
  bool pending_space = false;
  for (const char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space && word(out.back()) && word(c)) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string canonical_requirement(const spec::RequirementLine& line) {
  const std::string text = squeeze(line.requirement);
  const std::string name = spec::requirement_name(text);
  std::string out = spec::normalize_name(name) + text.substr(std::min(name.size(), text.size()));
  auto hashes = line.hashes;
  std::sort(hashes.begin(), hashes.end());
  hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
  for (const auto& h : hashes) out += " --hash=" + h;
  return out;
}

std::string env_key_material(const EnvKeyInput& input) {
  std::vector<std::string> reqs;
  reqs.reserve(input.requirements.size());
  for (const auto& r : input.requirements) reqs.push_back(canonical_requirement(r));
  std::sort(reqs.begin(), reqs.end());
  reqs.erase(std::unique(reqs.begin(), reqs.end()), reqs.end());
  std::vector<std::string> indexes;
  indexes.reserve(input.index_urls.size());
  for (const auto& u : input.index_urls) indexes.push_back(spec::redact_url(u));
  const nlohmann::json j = {{"format", kEnvFormat},
                            {"python", input.python},
                            {"python_version", input.python_version},
                            {"platform", input.platform},
                            {"installer", input.installer},
                            {"installer_version", input.installer_version},
                            {"requirements", reqs},
                            {"pinned", input.pinned},
                            {"index_urls", indexes},
                            {"venv_path", input.venv_path}};
  return j.dump();
}

std::string env_key(const EnvKeyInput& input) { return util::sha256_hex(env_key_material(input)); }

}  // namespace taskrunner::environment
