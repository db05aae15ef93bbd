#include "taskrunner/spec/task_spec.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "taskrunner/spec/index_url.hpp"
#include "taskrunner/spec/nix_attr.hpp"

using namespace taskrunner::spec;
using taskrunner::util::EnvMap;

namespace {
std::string field_of(const SpecInput& in) {
  try {
    validate(in);
  } catch (const SpecError& e) {
    return e.field;
  }
  return "";
}
}  // namespace

TEST(FromEnvironment, ReadsTheHeraContract) {
  const EnvMap env = {{"PYTHON_CODE", "print(1)"},
                      {"PYTHON_DEPS", "numpy, pandas>=2"},
                      {"REQUIREMENTS", "six\n"},
                      {"SYSTEM_DEPS", "gcc gnumake"},
                      {"USE_CACHE", "False"},
                      {"UV_INDEX_URL", "http://b/simple"},
                      {"PIP_INDEX_URL", "http://c/simple"}};
  const auto in = from_environment(env);
  EXPECT_EQ(in.deps, (std::vector<std::string>{"numpy", "pandas>=2"}));
  EXPECT_EQ(in.system_deps, (std::vector<std::string>{"gcc", "gnumake"}));
  EXPECT_EQ(in.use_cache, false);
  EXPECT_EQ(in.index_url, "http://b/simple");
  const auto spec = validate(in);
  ASSERT_EQ(spec.python_deps.size(), 3U);
  EXPECT_EQ(spec.python_deps[2].requirement, "six");
}

TEST(FromEnvironment, IndexPrecedence) {
  EXPECT_EQ(
      from_environment({{"TASKRUNNER_INDEX_URL", "http://a/s"}, {"UV_DEFAULT_INDEX", "http://b/s"}})
          .index_url,
      "http://a/s");
  EXPECT_EQ(from_environment({{"UV_DEFAULT_INDEX", "http://b/s"}, {"PIP_INDEX_URL", "http://c/s"}})
                .index_url,
            "http://b/s");
  EXPECT_THROW(from_environment({{"USE_CACHE", "perhaps"}}), SpecError);
  EXPECT_THROW(from_environment({{"PYTHON_CODE", "1"}, {"PYTHON_CODE_FILE", "/x"}}), SpecError);
}

TEST(OverlayJson, FieldsWinAndUnknownFieldsAreNamed) {
  SpecInput in = from_environment({{"PYTHON_CODE", "print('env')"}});
  overlay_json(in,
               R"({"python_code_file": "/tmp/x.py", "python_deps": "six idna",
                   "system_deps": ["gcc"], "use_cache": false, "args": ["a", "b"]})",
               "spec.json");
  EXPECT_FALSE(in.code);
  EXPECT_EQ(in.code_file, "/tmp/x.py");
  EXPECT_EQ(in.deps.size(), 2U);
  EXPECT_EQ(in.args, (std::vector<std::string>{"a", "b"}));
  try {
    overlay_json(in, R"({"pyton_code": "x"})", "spec.json");
    FAIL();
  } catch (const SpecError& e) {
    EXPECT_EQ(e.field, "pyton_code");
  }
  EXPECT_THROW(overlay_json(in, "{", "spec.json"), SpecError);
  EXPECT_THROW(overlay_json(in, R"({"args": "a"})", "spec.json"), SpecError);
  EXPECT_THROW(overlay_json(in, R"({"use_cache": "yes"})", "spec.json"), SpecError);
  EXPECT_THROW(overlay_json(in, R"({"schema_version": 2})", "spec.json"), SpecError);
}

// Found by tests/fuzz/fuzz_spec (corpus/fuzz_spec/regression-number-overflow): nlohmann's
// parser throws out_of_range, not parse_error, for a number beyond a double — which escaped
// overlay_json and aborted the binary (exit 134) before the `spec` checkpoint could fail.
TEST(OverlayJson, NumberBeyondADoubleIsMalformedJson) {
  SpecInput in = from_environment({{"PYTHON_CODE", "pass"}});
  try {
    overlay_json(in, R"({"python_code": "pass", "x": 1e999})", "spec.json");
    FAIL();
  } catch (const SpecError& e) {
    EXPECT_EQ(e.field, "spec.json");
    EXPECT_NE(std::string(e.what()).find("number overflow"), std::string::npos) << e.what();
  }
}

TEST(Validate, NamesTheField) {
  SpecInput in;
  EXPECT_EQ(field_of(in), "PYTHON_CODE");
  in.code = " \n";
  EXPECT_EQ(field_of(in), "PYTHON_CODE");
  in.code = "print(1)";
  in.deps = {"$(id)"};
  EXPECT_EQ(field_of(in), "PYTHON_DEPS");
  in.deps.clear();
  in.requirements = "six\n-e .\n";
  EXPECT_EQ(field_of(in), "REQUIREMENTS");
  in.requirements.reset();
  in.requirements_file = "/nonexistent/req.txt";
  EXPECT_EQ(field_of(in), "REQUIREMENTS_FILE");
  in.requirements_file.reset();
  in.system_deps = {"/nix/store/abc-gcc"};
  EXPECT_EQ(field_of(in), "SYSTEM_DEPS");
  in.system_deps.clear();
  in.index_url = "file:///srv/simple";
  EXPECT_EQ(field_of(in), "TASKRUNNER_INDEX_URL");
  in.index_url.reset();
  in.code.reset();
  in.code_file = "/nonexistent/task.py";
  EXPECT_EQ(field_of(in), "PYTHON_CODE_FILE");
}

TEST(Validate, CodeFileMustBeANonEmptyRegularFile) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto empty = dir / "taskrunner-unit-empty.py";
  std::ofstream(empty).close();
  SpecInput in;
  in.code_file = empty.string();
  EXPECT_EQ(field_of(in), "PYTHON_CODE_FILE");
  std::ofstream(empty) << "print(1)\n";
  EXPECT_EQ(field_of(in), "");
  in.code_file = dir.string();
  EXPECT_EQ(field_of(in), "PYTHON_CODE_FILE");
  std::filesystem::remove(empty);
}

TEST(Describe, HasNoCodeAndNoCredentials) {
  SpecInput in;
  in.code = "SECRET_CODE = 1";
  in.index_url = "https://user:pw@host.example/simple";
  in.deps = {"pandas>=2"};
  const auto d = describe(validate(in)).dump();
  EXPECT_EQ(d.find("SECRET_CODE"), std::string::npos);
  EXPECT_EQ(d.find("pw@"), std::string::npos);
  EXPECT_NE(d.find("\"pandas\""), std::string::npos);
}

TEST(NixAttribute, PathsAndIdentifiers) {
  for (const char* ok :
       {"gcc", "gnumake", "python311Packages.numpy", "_7zz", "pkgs.hello-2", "a'b"}) {
    EXPECT_EQ(check_nix_attribute(ok), std::nullopt) << ok;
  }
  for (const char* bad : {"", "/nix/store/abc-gcc", "..", "a..b", ".a", "a.", "gcc;id", "$(id)",
                          "a b", "1abc", "nixpkgs#gcc", "a\nb"}) {
    EXPECT_NE(check_nix_attribute(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(split_system_deps("gcc, gnumake\tcmake"),
            (std::vector<std::string>{"gcc", "gnumake", "cmake"}));
}

TEST(IndexUrl, ParseAndRedact) {
  auto ep = parse_index_url("https://u:p@pypi.example.org/simple");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "pypi.example.org");
  EXPECT_EQ(ep->port, "443");
  ep = parse_index_url("http://127.0.0.1:8080/simple");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, "8080");
  ep = parse_index_url("http://[::1]:9/simple");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "::1");
  EXPECT_FALSE(parse_index_url("ftp://h/simple"));
  EXPECT_FALSE(parse_index_url("not a url"));
  EXPECT_EQ(redact_url("https://alice:s3cret@h/simple"), "https://***@h/simple");
  EXPECT_EQ(redact_url("https://token@h/simple"), "https://***@h/simple");
  EXPECT_EQ(redact_url("https://h/simple"), "https://h/simple");
  EXPECT_EQ(redact_url("http://a b@h"), "<invalid URL>");
}

TEST(TaskSpec, CondaIsRejectedWithWhatToDoInstead) {
  for (const char* name : {"conda", "miniconda", "anaconda"}) {
    SpecInput in;
    in.code = "print(1)";
    in.system_deps = {"gcc", name};
    try {
      (void)validate(in);
      ADD_FAILURE() << name << " was accepted";
    } catch (const SpecError& e) {
      EXPECT_EQ(e.field, "SYSTEM_DEPS");
      EXPECT_NE(std::string(e.what()).find("micromamba"), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("PYTHON_DEPS"), std::string::npos);
    }
  }
}
