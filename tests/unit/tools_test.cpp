#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "taskrunner/tools/nix.hpp"
#include "taskrunner/tools/python.hpp"
#include "taskrunner/tools/uv.hpp"
#include "testutil.hpp"

using namespace taskrunner;
namespace fs = std::filesystem;

namespace {

/// The process seam answering every command with one canned result (testutil::FakeRunner).
struct FakeRunner {
  testutil::FakeRunner seam;
  execution::RunResult answer;
  std::vector<execution::Command> calls;
  FakeRunner() {
    seam.script = [this](const execution::Command& c, const execution::RunOptions&) {
      calls.push_back(c);
      return answer;
    };
  }
  operator execution::ProcessRunner&() { return seam; }  // NOLINT(google-explicit-constructor)
};

fs::path fresh_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("taskrunner-unit-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

fs::path executable_file(const fs::path& p) {
  std::ofstream(p) << "#!/bin/sh\n";
  ::chmod(p.c_str(), 0755);
  return p;
}

}  // namespace

TEST(ResolveInterpreter, ProbesOnceThenUsesTheCache) {
  const auto dir = fresh_dir("interp");
  const auto shim = executable_file(dir / "python3");
  const auto real = executable_file(dir / "python3.11");
  FakeRunner runner;
  runner.answer.started = true;
  runner.answer.captured_stdout = real.string() + "\n3.11.7\n1\n";
  util::EnvMap env = {{"PATH", dir.string()}};
  auto a = tools::resolve_interpreter("python3", env, dir, runner);
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->requested, shim);
  EXPECT_EQ(a->executable, real);
  EXPECT_EQ(a->version, "3.11.7");
  EXPECT_TRUE(a->has_pip);
  EXPECT_FALSE(a->from_cache);
  EXPECT_EQ(runner.calls.size(), 1U);
  EXPECT_EQ(runner.calls[0].args[0], "-c");

  auto b = tools::resolve_interpreter("python3", env, dir, runner);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->from_cache);
  EXPECT_EQ(b->executable, real);
  EXPECT_TRUE(b->has_pip);
  EXPECT_EQ(runner.calls.size(), 1U);  // no interpreter started on the warm path

  env["PYENV_VERSION"] = "3.12.1";  // a different pyenv selection invalidates the answer
  ASSERT_TRUE(tools::resolve_interpreter("python3", env, dir, runner));
  EXPECT_EQ(runner.calls.size(), 2U);
  fs::remove_all(dir);
}

TEST(ResolveInterpreter, MissingOrBroken) {
  const auto dir = fresh_dir("interp2");
  FakeRunner runner;
  auto r = tools::resolve_interpreter("python3", {{"PATH", dir.string()}}, dir, runner);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error().find("no Python interpreter"), std::string::npos);
  executable_file(dir / "python3");
  runner.answer.started = true;
  runner.answer.exit_code = 1;
  r = tools::resolve_interpreter("python3", {{"PATH", dir.string()}}, dir, runner);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error().find("did not start"), std::string::npos);
  fs::remove_all(dir);
}

TEST(FindInstaller, OrderAndFallback) {
  const auto dir = fresh_dir("uv");
  FakeRunner runner;
  runner.answer.started = true;
  runner.answer.captured_stdout = "uv 0.9.1 (abc 2026-01-01)\n";
  // Nothing there: pip.
  auto i = tools::find_installer(std::nullopt, dir / "bin", "/nonexistent", {}, runner);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->kind, tools::InstallerKind::pip);
  // The cache volume's bin/ dir.
  fs::create_directories(dir / "bin");
  executable_file(dir / "bin" / "uv");
  i = tools::find_installer(std::nullopt, dir / "bin", "/nonexistent", {}, runner);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->kind, tools::InstallerKind::uv);
  EXPECT_EQ(i->source, "tools_dir");
  EXPECT_EQ(i->version, "uv 0.9.1 (abc 2026-01-01)");
  EXPECT_EQ(runner.calls.back().args, (std::vector<std::string>{"--version"}));
  // An explicit TASKRUNNER_UV that is not there is an error, not a silent fallback.
  const auto missing = tools::find_installer("/nonexistent/uv", dir / "bin", "", {}, runner);
  EXPECT_FALSE(missing);
  EXPECT_NE(missing.error().find("TASKRUNNER_UV"), std::string::npos);
  // A uv that does not run: explicit → error; found by search → pip with the reason.
  runner.answer.exit_code = 126;
  EXPECT_FALSE(tools::find_installer((dir / "bin" / "uv").string(), dir, "", {}, runner));
  i = tools::find_installer(std::nullopt, dir / "bin", "", {}, runner);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->kind, tools::InstallerKind::pip);
  EXPECT_NE(i->fallback_reason.find("does not run"), std::string::npos);
  fs::remove_all(dir);
}

// A new pod on a warm cache starts no uv: its version (part of every environment key) is read
// from <env cache>/tools, for this very file only, and only in uv's form (and signed, with a key).
TEST(FindInstaller, VersionRecordsOnTheSharedVolume) {
  const auto dir = fresh_dir("uvrec");
  fs::create_directories(dir / "bin");
  executable_file(dir / "bin" / "uv");
  FakeRunner runner;
  runner.answer.started = true;
  runner.answer.captured_stdout = "uv 0.11.28\n";
  const tools::SharedProbeRecords shared{dir / "tools", std::nullopt};
  auto i = tools::find_installer(std::nullopt, dir / "bin", "", {}, runner, shared);
  ASSERT_TRUE(i);
  EXPECT_FALSE(i->version_from_cache);
  EXPECT_EQ(runner.calls.size(), 1U);
  i = tools::find_installer(std::nullopt, dir / "bin", "", {}, runner, shared);
  ASSERT_TRUE(i);
  EXPECT_TRUE(i->version_from_cache);
  EXPECT_EQ(i->version, "uv 0.11.28");
  EXPECT_EQ(i->uv, dir / "bin" / "uv");
  EXPECT_EQ(runner.calls.size(), 1U);  // no second start
  // Another file (a new uv put in place): its own probe.
  fs::remove(dir / "bin" / "uv");
  executable_file(dir / "bin" / "uv");
  fs::last_write_time(dir / "bin" / "uv", fs::file_time_type::clock::now() + std::chrono::hours(1));
  runner.answer.captured_stdout = "uv 0.12.0\n";
  i = tools::find_installer(std::nullopt, dir / "bin", "", {}, runner, shared);
  ASSERT_TRUE(i);
  EXPECT_FALSE(i->version_from_cache);
  EXPECT_EQ(i->version, "uv 0.12.0");
  // A planted record that is not a uv version is ignored and rewritten.
  const auto key = "uv-v1|" + tools::file_identity(dir / "bin" / "uv");
  const auto record = tools::probe_record_path(dir / "tools", key);
  testutil::write_file(record, nlohmann::json{{"key", key}, {"version", "x\n; rm -rf /"}}.dump());
  i = tools::find_installer(std::nullopt, dir / "bin", "", {}, runner, shared);
  ASSERT_TRUE(i);
  EXPECT_FALSE(i->version_from_cache);
  EXPECT_EQ(i->version, "uv 0.12.0");
  // With a signing key, an unsigned (or wrongly signed) record is not used.
  const tools::SharedProbeRecords keyed{dir / "tools", std::string("k3y")};
  testutil::write_file(record, nlohmann::json{{"key", key}, {"version", "uv 9.9.9"}}.dump());
  i = tools::find_installer(std::nullopt, dir / "bin", "", {}, runner, keyed);
  ASSERT_TRUE(i);
  EXPECT_FALSE(i->version_from_cache);
  EXPECT_EQ(i->version, "uv 0.12.0");
  i = tools::find_installer(std::nullopt, dir / "bin", "", {}, runner, keyed);  // signed now
  ASSERT_TRUE(i);
  EXPECT_TRUE(i->version_from_cache);
  EXPECT_EQ(i->version, "uv 0.12.0");
  fs::remove_all(dir);
}

TEST(FindNix, Order) {
  const auto dir = fresh_dir("nix");
  EXPECT_FALSE(tools::find_nix(std::nullopt, dir, "/nonexistent"));
  fs::create_directories(dir / "path");
  executable_file(dir / "path" / "nix");
  auto n = tools::find_nix(std::nullopt, dir, (dir / "path").string());
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, "nix");
  executable_file(dir / "nix-portable");
  n = tools::find_nix(std::nullopt, dir, (dir / "path").string());
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, "nix-portable");
  EXPECT_EQ(n->source, "tools_dir");
  fs::remove_all(dir);
}

TEST(Nix, CommandsPerStoreMode) {
  const tools::NixTool native{"/usr/bin/nix", "nix", "PATH"};
  const tools::NixTool portable{"/cache/bin/nix-portable", "nix-portable", "tools_dir"};
  const util::EnvMap env = {{"HOME", "/root"}};
  const auto a = tools::nix_command(native, "nix-build", {"-A", "x"}, env);
  EXPECT_EQ(a.executable, "/usr/bin/nix-build");
  EXPECT_EQ(a.args, (std::vector<std::string>{"-A", "x"}));
  const auto b = tools::nix_command(portable, "nix-build", {"-A", "x"}, env);
  EXPECT_EQ(b.executable, "/cache/bin/nix-portable");
  EXPECT_EQ(b.args, (std::vector<std::string>{"nix-build", "-A", "x"}));
  EXPECT_EQ(b.env.at("NP_LOCATION"), "/root");  // nix-portable's own default, made explicit
  EXPECT_EQ(tools::real_store_dir(native, env), "/nix/store");
  EXPECT_EQ(tools::real_store_dir(portable, {{"NP_LOCATION", "/np"}}),
            "/np/.nix-portable/nix/store");
  EXPECT_EQ(tools::reachable_path(portable, {{"NP_LOCATION", "/np"}}, "/nix/store/abc-x"),
            "/np/.nix-portable/nix/store/abc-x");
  EXPECT_EQ(tools::portable_startup_lock({{"NP_LOCATION", "/np"}}),
            "/np/.taskrunner-nix-portable.lock");
}

TEST(ResolveInterpreter, SharedRecordsSaveANewPodItsProbe) {
  const auto dir = fresh_dir("interp-shared");
  const auto python = executable_file(dir / "python3");
  const auto shared = dir / "env-cache" / "interpreters";
  const tools::SharedInterpreterRecords records{shared, std::nullopt};
  FakeRunner runner;
  runner.answer.started = true;
  runner.answer.captured_stdout = python.string() + "\n3.11.2\n1\n";
  const util::EnvMap env = {{"PATH", dir.string()}};
  fs::create_directories(dir / "pod-a");
  fs::create_directories(dir / "pod-b");
  auto a = tools::resolve_interpreter("python3", env, dir / "pod-a", runner, records);
  ASSERT_TRUE(a) << a.error();
  EXPECT_FALSE(a->from_cache);
  EXPECT_EQ(runner.calls.size(), 1U);
  // A new pod (empty work dir) on the same volume starts no interpreter.
  auto b = tools::resolve_interpreter("python3", env, dir / "pod-b", runner, records);
  ASSERT_TRUE(b) << b.error();
  EXPECT_TRUE(b->from_cache);
  EXPECT_EQ(b->version, "3.11.2");
  EXPECT_EQ(runner.calls.size(), 1U);
  EXPECT_TRUE(fs::exists(dir / "pod-b" / "python-resolve.json"));
  fs::remove_all(dir);
}

TEST(ResolveInterpreter, ASharedRecordCannotRedirectOrLieWhenSigned) {
  const auto dir = fresh_dir("interp-shared-hostile");
  const auto python = executable_file(dir / "python3");
  const auto other = executable_file(dir / "evil");
  const auto shared = dir / "interpreters";
  FakeRunner runner;
  runner.answer.started = true;
  runner.answer.captured_stdout = python.string() + "\n3.11.2\n1\n";
  const util::EnvMap env = {{"PATH", dir.string()}};
  int pod = 0;
  const auto resolve = [&](const tools::SharedInterpreterRecords& r) {
    const auto work = dir / ("pod" + std::to_string(pod++));
    fs::create_directories(work);
    return tools::resolve_interpreter("python3", env, work, runner, r);
  };
  const auto record_file = [&] {
    for (const auto& e : fs::directory_iterator(shared)) return e.path();
    return fs::path();
  };
  const auto rewrite = [&](const std::string& from, const std::string& to) {
    const auto path = record_file();
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text.replace(text.find(from), from.size(), to);
    std::ofstream(path, std::ios::trunc) << text;
  };
  // Unsigned: a record naming another program is refused and the interpreter probed again.
  ASSERT_TRUE(resolve({shared, std::nullopt}));
  rewrite(python.string(), other.string());
  auto r = resolve({shared, std::nullopt});
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->from_cache);
  EXPECT_EQ(r->executable, python);
  EXPECT_EQ(runner.calls.size(), 2U);
  // Signed: the probe's record carries a mac; a record edited on the volume is refused.
  const tools::SharedInterpreterRecords signed_records{shared, std::string("k3y")};
  fs::remove_all(shared);
  ASSERT_TRUE(resolve(signed_records));
  EXPECT_EQ(runner.calls.size(), 3U);
  r = resolve(signed_records);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->from_cache);
  EXPECT_EQ(runner.calls.size(), 3U);
  rewrite("3.11.2", "3.12.0");
  r = resolve(signed_records);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->from_cache);
  EXPECT_EQ(r->version, "3.11.2");
  EXPECT_EQ(runner.calls.size(), 4U);
  fs::remove_all(dir);
}
