#include "taskrunner/environment/system_env.hpp"
#include "testutil.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

using namespace taskrunner;
using environment::SystemEnvRequest;

namespace {
SystemEnvRequest request(std::vector<std::string> attrs, std::string nixpkgs = "/pin") {
  return SystemEnvRequest{std::move(attrs), std::move(nixpkgs), "nixpkgs=/channel", "x86_64-linux"};
}
tools::NixTool native() { return tools::NixTool{"/usr/bin/nix", "nix", "PATH"}; }
tools::NixTool portable() { return tools::NixTool{"/opt/nix-portable", "nix-portable", "PATH"}; }

using testutil::TempDir;
}  // namespace

TEST(SystemEnvKey, StableAcrossOrderAndDuplicates) {
  const auto a = environment::system_env_key(request({"gcc", "gnumake", "cmake"}));
  EXPECT_EQ(a.size(), 64U);
  EXPECT_EQ(a, environment::system_env_key(request({"cmake", "gcc", "gnumake", "gcc"})));
}

TEST(SystemEnvKey, ChangesWithEveryInput) {
  const auto base = environment::system_env_key(request({"gcc"}));
  EXPECT_NE(base, environment::system_env_key(request({"gcc", "cmake"})));
  EXPECT_NE(base, environment::system_env_key(request({"gcc"}, "/other-pin")));
  auto other_system = request({"gcc"});
  other_system.system = "aarch64-linux";
  EXPECT_NE(base, environment::system_env_key(other_system));
  // NIX_PATH counts only when nixpkgs is not pinned.
  auto channel = request({"gcc"}, "");
  const auto unpinned = environment::system_env_key(channel);
  channel.nix_path = "nixpkgs=/elsewhere";
  EXPECT_NE(unpinned, environment::system_env_key(channel));
  auto pinned = request({"gcc"});
  pinned.nix_path = "nixpkgs=/elsewhere";
  EXPECT_EQ(base, environment::system_env_key(pinned));
}

TEST(SystemEnv, UserStringsOnlyReachNixAsArgstr) {
  const auto args = environment::nix_build_args(request({"gcc", "python3Packages.numpy"}), "/r/k");
  const auto expr = std::find(args.begin(), args.end(), "--expr");
  ASSERT_NE(expr, args.end());
  const std::string& code = *(expr + 1);
  EXPECT_EQ(code, environment::system_env_expression());
  EXPECT_EQ(code.find("numpy"), std::string::npos);
  EXPECT_EQ(code.find("/pin"), std::string::npos);
  const auto attrs = std::find(args.begin(), args.end(), "attrs");
  ASSERT_NE(attrs, args.end());
  EXPECT_EQ(*(attrs - 1), "--argstr");
  EXPECT_EQ(*(attrs + 1), "gcc python3Packages.numpy");
  EXPECT_EQ(args[0], "--out-link");
  EXPECT_EQ(args[1], "/r/k");
}

TEST(SystemEnv, UnknownAttributeIsParsedFromNixOutput) {
  EXPECT_EQ(environment::unknown_attribute(
                "error: taskrunner: unknown attribute 'no-such' in nixpkgs\n(use '--show-trace')"),
            "no-such");
  EXPECT_FALSE(environment::unknown_attribute("error: builder failed with exit code 1"));
}

TEST(SystemEnv, ValidRootNeedsAnExistingTarget) {
  TempDir t;
  const util::EnvMap env = {{"NP_LOCATION", t.path.string()}};
  const auto store = t.path / ".nix-portable/nix/store";
  std::filesystem::create_directories(store / "abc-env");
  std::filesystem::create_symlink("/nix/store/abc-env", t.path / "good");
  std::filesystem::create_symlink("/nix/store/gone-env", t.path / "stale");
  // Portable mode re-roots /nix/store under NP_LOCATION.
  EXPECT_EQ(environment::valid_root(portable(), env, t.path / "good"),
            std::filesystem::path("/nix/store/abc-env"));
  EXPECT_FALSE(environment::valid_root(portable(), env, t.path / "stale"));
  EXPECT_FALSE(environment::valid_root(portable(), env, t.path / "missing"));
  // Native mode looks at the path itself.
  std::filesystem::create_symlink(store / "abc-env", t.path / "native");
  EXPECT_EQ(environment::valid_root(native(), env, t.path / "native"), store / "abc-env");
}

TEST(SystemEnv, NativeUserCodeGetsTheEnvBinAfterTheVenv) {
  execution::Command user{"/w/venv/bin/python", {"-c", "x"}, {{"PATH", "/usr/bin:/bin"}}, {}, {}};
  const auto c = environment::use_system_env(user, native(), {{"PATH", "/usr/bin:/bin"}},
                                             "/nix/store/abc-env", "/w/venv");
  EXPECT_EQ(c.executable, "/w/venv/bin/python");
  EXPECT_EQ(c.env.at("PATH"), "/w/venv/bin:/nix/store/abc-env/bin:/usr/bin:/bin");
}

TEST(SystemEnv, PortableUserCodeRunsInsideNixPortable) {
  execution::Command user{
      "/w/venv/bin/python", {"-c", "x", "arg"}, {{"PATH", "/bin"}, {"NP_LOCATION", "/np"}}, {}, {}};
  const auto c = environment::use_system_env(user, portable(), {{"NP_LOCATION", "/np"}},
                                             "/nix/store/abc-env", "/w/venv");
  EXPECT_EQ(c.executable, "/opt/nix-portable");
  const std::vector<std::string> want = {"nix",
                                         "--extra-experimental-features",
                                         "nix-command",
                                         "shell",
                                         "/nix/store/abc-env",
                                         "--command",
                                         "/w/venv/bin/python",
                                         "-c",
                                         "x",
                                         "arg"};
  EXPECT_EQ(c.args, want);
  EXPECT_EQ(c.env.at("NP_LOCATION"), "/np");
  EXPECT_EQ(c.env.at("PATH"), "/bin");  // nix shell puts the environment's bin dir first
}

TEST(SystemEnv, DefaultRootsBesideTheStore) {
  EXPECT_EQ(environment::default_roots_dir(native(), {}), "/nix/var/nix/gcroots/taskrunner");
  EXPECT_EQ(environment::default_roots_dir(portable(), {{"NP_LOCATION", "/cache/np"}}),
            "/cache/np/.nix-portable/taskrunner-roots");
}
