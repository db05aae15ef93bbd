#include "taskrunner/spec/requirement.hpp"

#include <gtest/gtest.h>

using namespace taskrunner::spec;

TEST(CheckRequirement, AcceptsPep508Forms) {
  for (const char* ok :
       {"numpy", "pandas>=2", "pandas >= 2, < 3", "requests[socks,security]>=2.0",
        "Django (>=4.2,<5)", "zope.interface", "a", "foo_bar-baz.qux==1.0.post1+local", "pkg===1.0",
        "pkg~=1.4.2", "pkg==1.*", "name @ https://example.org/pkg-1.0-py3-none-any.whl",
        "six; python_version >= \"3.8\"",
        "six ; python_version < '3.12' and (sys_platform == 'linux' or os_name != \"nt\")",
        "pkg[extra]; extra == 'x'", "pkg; 'linux' in sys_platform",
        "pkg; platform_machine not in 'arm64'"}) {
    EXPECT_EQ(check_requirement(ok), std::nullopt) << ok;
  }
}

TEST(CheckRequirement, RejectsShellAndGarbage) {
  for (const char* bad : {"numpy; rm -rf /",
                          "$(id)",
                          "`id`",
                          "six\nidna",
                          "six | cat",
                          "six>=1 && id",
                          "",
                          "-e .",
                          "../etc/passwd",
                          "six; python_version > '3' or $(id)",
                          "six; os_name == \"$(id)\"",
                          "six; os_name == 'a`b`'",
                          "pkg>=",
                          "pkg @ ftp://x",
                          "pkg @ https://x/$(id)",
                          "-pkg",
                          "pkg-",
                          "pkg[",
                          "pkg; ",
                          "pkg==1.0 extra",
                          "pkg (>=1"}) {
    EXPECT_NE(check_requirement(bad), std::nullopt) << bad;
  }
}

TEST(CheckRequirement, MessagesNameTheProblem) {
  EXPECT_NE(check_requirement("numpy; rm -rf /")->find("'rm' is not a PEP 508 marker variable"),
            std::string::npos);
  EXPECT_NE(check_requirement("six\nidna")->find("newline"), std::string::npos);
}

TEST(NormalizeName, Pep503) {
  EXPECT_EQ(normalize_name("Foo.Bar__baz-_Qux"), "foo-bar-baz-qux");
  EXPECT_EQ(normalize_name("MarkupSafe"), "markupsafe");
  EXPECT_EQ(requirement_name("  pandas[x]>=2"), "pandas");
}

TEST(SplitDeps, SpacesCommasAndOperators) {
  EXPECT_EQ(split_deps("numpy, pandas>=2"), (std::vector<std::string>{"numpy", "pandas>=2"}));
  EXPECT_EQ(split_deps("pandas>=2,<3, numpy"), (std::vector<std::string>{"pandas>=2,<3", "numpy"}));
  EXPECT_EQ(split_deps(" numpy >= 1.0 six\trequests,,"),
            (std::vector<std::string>{"numpy>=1.0", "six", "requests"}));
  EXPECT_TRUE(split_deps("  , ").empty());
}

TEST(ParseRequirements, CommentsContinuationsAndHashes) {
  const auto parsed = parse_requirements(
      "# header\n\nsix==1.17.0 --hash=sha256:abcdef --hash sha256:0123\r\n"
      "attrs \\\n  >=20  # why\n");
  ASSERT_TRUE(parsed) << parsed.error();
  const auto& lines = *parsed;
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0].requirement, "six==1.17.0");
  EXPECT_EQ(lines[0].hashes, (std::vector<std::string>{"sha256:abcdef", "sha256:0123"}));
  EXPECT_EQ(lines[0].line, 3);
  EXPECT_EQ(lines[1].requirement, "attrs   >=20");
  EXPECT_EQ(lines[1].line, 4);
  EXPECT_EQ(render_requirements(lines),
            "six==1.17.0 --hash=sha256:abcdef --hash=sha256:0123\nattrs   >=20\n");
}

TEST(ParseRequirements, RejectsPipOptionsNamingTheLine) {
  for (const char* text :
       {"six\n--index-url http://evil/simple\n", "six\n-e .\n", "six\n-r x.txt\n",
        "six\n-c c.txt\n", "six\n--extra-index-url http://e\n",
        "six\nidna --index-url=http://evil\n", "six\nidna --hash=md5\n",
        "six\nnumpy; rm -rf /\n"}) {
    const auto parsed = parse_requirements(text);
    EXPECT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().rfind("line 2: ", 0), 0U) << parsed.error();
  }
}

TEST(CheckRequirement, MarkerNestingIsBounded) {
  const auto nested = [](int n) {
    return "six; " + std::string(static_cast<std::size_t>(n), '(') + "python_version > '3'" +
           std::string(static_cast<std::size_t>(n), ')');
  };
  EXPECT_FALSE(check_requirement(nested(taskrunner::spec::kMaxMarkerDepth)));
  const auto deep = check_requirement(nested(taskrunner::spec::kMaxMarkerDepth + 1));
  ASSERT_TRUE(deep);
  EXPECT_NE(deep->find("nested deeper than"), std::string::npos) << *deep;
  // 35,000 open parentheses once overflowed the stack (exit 139): now a plain error.
  EXPECT_TRUE(check_requirement("six;" + std::string(35000, '(')));
}
