#include "taskrunner/environment/env_key.hpp"

#include <gtest/gtest.h>

using namespace taskrunner;
using environment::EnvKeyInput;
using spec::RequirementLine;

namespace {
EnvKeyInput input(std::vector<RequirementLine> reqs) {
  EnvKeyInput in;
  in.python = "/usr/bin/python3.11";
  in.python_version = "3.11.7";
  in.platform = "x86_64-linux";
  in.installer = "uv";
  in.installer_version = "uv 0.5.1";
  in.requirements = std::move(reqs);
  in.index_urls = {"https://user:secret@pypi.example/simple"};
  in.venv_path = "/tmp/taskrunner/venv";
  return in;
}
RequirementLine req(std::string text, std::vector<std::string> hashes = {}) {
  return RequirementLine{std::move(text), std::move(hashes), 1};
}
}  // namespace

TEST(EnvKey, OrderWhitespaceAndDuplicatesDoNotMatter) {
  const auto a = environment::env_key(input({req("requests>=2"), req("numpy")}));
  EXPECT_EQ(a.size(), 64U);
  EXPECT_EQ(a, environment::env_key(input({req("numpy"), req("requests >= 2"), req("numpy")})));
  EXPECT_EQ(a, environment::env_key(input({req("NumPy"), req("Requests>=2")})));
}

TEST(EnvKey, CanonicalFormKeepsWordsApartAndSortsHashes) {
  EXPECT_EQ(environment::canonical_requirement(
                req("Foo_Bar [x] >= 1 ; python_version < \"3.12\" and os_name == \"posix\"")),
            "foo-bar[x]>=1;python_version<\"3.12\"and os_name==\"posix\"");
  EXPECT_EQ(environment::canonical_requirement(req("six", {"sha256:bb", "sha256:aa"})),
            "six --hash=sha256:aa --hash=sha256:bb");
}

TEST(EnvKey, EveryInputChangesTheKey) {
  const auto base = input({req("six")});
  const auto key = environment::env_key(base);
  auto changed = [&](auto edit) {
    auto in = base;
    edit(in);
    return environment::env_key(in) != key;
  };
  EXPECT_TRUE(changed([](EnvKeyInput& in) { in.python = "/opt/python3"; }));
  EXPECT_TRUE(changed([](EnvKeyInput& in) { in.python_version = "3.11.8"; }));
  EXPECT_TRUE(changed([](EnvKeyInput& in) { in.platform = "aarch64-linux"; }));
  EXPECT_TRUE(changed([](EnvKeyInput& in) { in.installer = "pip"; }));
  EXPECT_TRUE(changed([](EnvKeyInput& in) { in.installer_version = "uv 0.6.0"; }));
  EXPECT_TRUE(changed([](EnvKeyInput& in) { in.requirements = {req("six==1.16")}; }));
  EXPECT_TRUE(changed([](EnvKeyInput& in) { in.requirements = {req("six", {"sha256:aa"})}; }));
  EXPECT_TRUE(changed([](EnvKeyInput& in) { in.index_urls = {"https://other/simple"}; }));
  EXPECT_TRUE(changed([](EnvKeyInput& in) { in.venv_path = "/work/venv"; }));
}

TEST(EnvKey, CredentialsAreNeitherHashedNorShown) {
  auto other = input({req("six")});
  other.index_urls = {"https://user:another-token@pypi.example/simple"};
  EXPECT_EQ(environment::env_key(input({req("six")})), environment::env_key(other));
  EXPECT_EQ(environment::env_key_material(other).find("another-token"), std::string::npos);
}
