#include "taskrunner/spec/requirement.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "taskrunner/util/text.hpp"

namespace taskrunner::spec {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_ws(char c) { return c == ' ' || c == '\t'; }

/// PEP 508 marker variables (plus the legacy dotted forms pip still accepts).
constexpr std::array<std::string_view, 14> kMarkerVars = {"python_version",
                                                          "python_full_version",
                                                          "os_name",
                                                          "sys_platform",
                                                          "platform_release",
                                                          "platform_system",
                                                          "platform_version",
                                                          "platform_machine",
                                                          "platform_python_implementation",
                                                          "implementation_name",
                                                          "implementation_version",
                                                          "extra",
                                                          "os.name",
                                                          "sys.platform"};

/// A tiny cursor over the requirement text.
struct Cursor {
  std::string_view s;
  std::size_t i = 0;
  [[nodiscard]] bool done() const { return i >= s.size(); }
  [[nodiscard]] char peek() const { return done() ? '\0' : s[i]; }
  void skip_ws() {
    while (!done() && is_ws(s[i])) ++i;
  }
  bool eat(std::string_view tok) {
    if (s.substr(i, tok.size()) == tok) {
      i += tok.size();
      return true;
    }
    return false;
  }
};

std::string describe_char(char c) {
  if (c == '\n') return "a newline";
  if (c == '\r') return "a carriage return";
  if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "a control character";
  return std::string("'") + c + "'";
}

std::optional<std::string> parse_name(Cursor& c) {
  const std::size_t start = c.i;
  while (!c.done() &&
         (is_alnum(c.peek()) || c.peek() == '.' || c.peek() == '-' || c.peek() == '_')) {
    ++c.i;
  }
  const auto name = c.s.substr(start, c.i - start);
  if (name.empty()) {
    if (c.done()) return "a requirement needs a package name";
    return "expected a package name at " + describe_char(c.peek());
  }
  if (!is_alnum(name.front()) || !is_alnum(name.back())) {
    return "package name '" + std::string(name) +
           "' must start and end with a letter or digit (PEP 508)";
  }
  return std::nullopt;
}

std::optional<std::string> parse_extras(Cursor& c) {
  if (!c.eat("[")) return std::nullopt;
  c.skip_ws();
  if (c.eat("]")) return std::nullopt;
  for (;;) {
    c.skip_ws();
    if (auto err = parse_name(c)) return "in extras: " + *err;
    c.skip_ws();
    if (c.eat("]")) return std::nullopt;
    if (!c.eat(",")) return "extras must be a comma-separated list closed by ']'";
  }
}

bool is_version_char(char ch) {
  return is_alnum(ch) || ch == '.' || ch == '*' || ch == '+' || ch == '!' || ch == '_' || ch == '-';
}

std::optional<std::string> parse_version_many(Cursor& c) {
  static constexpr std::array<std::string_view, 8> kOps = {
      "===", "==", "!=", "~=", "<=", ">=", "<", ">"};
  for (;;) {
    c.skip_ws();
    bool matched = false;
    for (const auto op : kOps) {
      if (c.eat(op)) {
        matched = true;
        break;
      }
    }
    if (!matched) {
      if (c.done()) return "expected a version comparison (==, >=, <, ~=, …)";
      return "expected a version comparison (==, >=, <, ~=, …) at " + describe_char(c.peek());
    }
    c.skip_ws();
    const std::size_t start = c.i;
    while (!c.done() && is_version_char(c.peek())) ++c.i;
    if (c.i == start) return "a version comparison needs a version";
    const std::size_t save = c.i;
    c.skip_ws();
    if (!c.eat(",")) {
      c.i = save;
      return std::nullopt;
    }
  }
}

bool is_url_char(char ch) {
  static constexpr std::string_view kExtra = "-._~:/?#[]@!&()*+,=%";
  return is_alnum(ch) || kExtra.find(ch) != std::string_view::npos;
}

std::optional<std::string> parse_url(Cursor& c) {
  c.skip_ws();
  const std::size_t start = c.i;
  while (!c.done() && is_url_char(c.peek())) ++c.i;
  const auto url = c.s.substr(start, c.i - start);
  if (!(url.starts_with("https://") || url.starts_with("http://") || url.starts_with("file://"))) {
    return "a direct reference after '@' must be an http://, https:// or file:// URL";
  }
  if (!c.done() && !is_ws(c.peek())) {
    return "URL contains " + describe_char(c.peek()) + ", which is not allowed";
  }
  return std::nullopt;
}

// --- markers -------------------------------------------------------------------------------

struct MarkerParser {
  Cursor& c;
  int depth = 0;  ///< open parentheses: bounded, so hostile input cannot exhaust the stack

  std::optional<std::string> value() {
    c.skip_ws();
    const char q = c.peek();
    if (q == '"' || q == '\'') {
      ++c.i;
      while (!c.done() && c.peek() != q) {
        const char ch = c.peek();
        if (ch == '\\' || ch == '$' || ch == '`' || static_cast<unsigned char>(ch) < 0x20) {
          return "marker string contains " + describe_char(ch);
        }
        ++c.i;
      }
      if (!c.eat(std::string_view(&q, 1))) return "unterminated string in marker";
      return std::nullopt;
    }
    const std::size_t start = c.i;
    while (!c.done() && (is_alnum(c.peek()) || c.peek() == '_' || c.peek() == '.')) ++c.i;
    const auto word = c.s.substr(start, c.i - start);
    if (word.empty()) {
      if (c.done()) return "marker ends too early";
      return "unexpected " + describe_char(c.peek()) + " in marker";
    }
    if (std::find(kMarkerVars.begin(), kMarkerVars.end(), word) == kMarkerVars.end()) {
      return "'" + std::string(word) + "' is not a PEP 508 marker variable";
    }
    return std::nullopt;
  }

  std::optional<std::string> op() {
    c.skip_ws();
    static constexpr std::array<std::string_view, 8> kOps = {
        "===", "==", "!=", "~=", "<=", ">=", "<", ">"};
    for (const auto o : kOps) {
      if (c.eat(o)) return std::nullopt;
    }
    if (c.eat("in") && (c.done() || !is_alnum(c.peek()))) return std::nullopt;
    if (c.eat("not")) {
      c.skip_ws();
      if (c.eat("in")) return std::nullopt;
    }
    return "expected a marker operator (==, <, in, not in, …)";
  }

  std::optional<std::string> expr() {
    c.skip_ws();
    if (c.eat("(")) {
      if (++depth > kMaxMarkerDepth) {
        return "markers nested deeper than " + std::to_string(kMaxMarkerDepth) + " parentheses";
      }
      if (auto e = disjunction()) return e;
      c.skip_ws();
      if (!c.eat(")")) return "missing ')' in marker";
      --depth;
      return std::nullopt;
    }
    if (auto e = value()) return e;
    if (auto e = op()) return e;
    return value();
  }

  bool keyword(std::string_view kw) {
    const std::size_t save = c.i;
    c.skip_ws();
    if (c.eat(kw) && (c.done() || is_ws(c.peek()) || c.peek() == '(')) return true;
    c.i = save;
    return false;
  }

  std::optional<std::string> conjunction() {
    if (auto e = expr()) return e;
    while (keyword("and")) {
      if (auto e = expr()) return e;
    }
    return std::nullopt;
  }

  std::optional<std::string> disjunction() {
    if (auto e = conjunction()) return e;
    while (keyword("or")) {
      if (auto e = conjunction()) return e;
    }
    return std::nullopt;
  }
};

}  // namespace

std::optional<std::string> check_requirement(std::string_view req) {
  for (const char ch : req) {
    if (ch == '\n' || ch == '\r' || ch == '\0') return "contains " + describe_char(ch);
  }
  Cursor c{req};
  c.skip_ws();
  if (auto e = parse_name(c)) return e;
  c.skip_ws();
  if (auto e = parse_extras(c)) return e;
  c.skip_ws();
  if (c.eat("@")) {
    if (auto e = parse_url(c)) return e;
  } else if (c.eat("(")) {
    if (auto e = parse_version_many(c)) return e;
    c.skip_ws();
    if (!c.eat(")")) return "missing ')' after version specifiers";
  } else if (!c.done() && c.peek() != ';') {
    if (auto e = parse_version_many(c)) return e;
  }
  c.skip_ws();
  if (c.eat(";")) {
    MarkerParser m{c};
    if (auto e = m.disjunction()) return "invalid environment marker: " + *e;
    c.skip_ws();
  }
  if (!c.done()) {
    return "unexpected " + describe_char(c.peek()) + " at position " + std::to_string(c.i + 1);
  }
  return std::nullopt;
}

std::string normalize_name(std::string_view name) {
  std::string out;
  bool in_sep = false;
  for (const char ch : name) {
    if (ch == '-' || ch == '_' || ch == '.') {
      if (!in_sep) out.push_back('-');
      in_sep = true;
    } else {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
      in_sep = false;
    }
  }
  return out;
}

std::string requirement_name(std::string_view req) {
  std::size_t i = 0;
  while (i < req.size() && is_ws(req[i])) ++i;
  const std::size_t start = i;
  while (i < req.size() && (is_alnum(req[i]) || req[i] == '.' || req[i] == '-' || req[i] == '_')) {
    ++i;
  }
  return std::string(req.substr(start, i - start));
}

std::vector<std::string> split_deps(std::string_view value) {
  std::vector<std::string> pieces = util::split_list(value);

  const auto is_op_char = [](char ch) {
    return ch == '<' || ch == '>' || ch == '=' || ch == '!' || ch == '~';
  };
  std::vector<std::string> out;
  bool prev_was_bare_op = false;  // "pkg >= 1": the version follows an operator-only piece
  for (auto& p : pieces) {
    const bool starts_op = is_op_char(p.front());
    const bool bare_op = std::all_of(p.begin(), p.end(), is_op_char);
    if (!out.empty() && prev_was_bare_op) {
      out.back() += p;
    } else if (!out.empty() && starts_op) {
      const char last = out.back().back();
      out.back() += (is_op_char(last) || out.back().find_first_of("<>=!~") == std::string::npos)
                        ? p
                        : "," + p;
    } else {
      out.push_back(p);
    }
    prev_was_bare_op = bare_op;
  }
  return out;
}

namespace {

std::vector<RequirementLine> parse_lines(std::string_view text, std::string& error) {
  // Join backslash continuations first, remembering each logical line's first physical line.
  std::vector<std::pair<int, std::string>> logical;
  {
    std::string cur;
    int line_no = 0;
    int start_line = 1;
    std::size_t pos = 0;
    while (pos <= text.size()) {
      const std::size_t nl = text.find('\n', pos);
      std::string_view line =
          text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (cur.empty()) start_line = line_no;
      if (!line.empty() && line.back() == '\\') {
        cur.append(line.substr(0, line.size() - 1));
      } else {
        cur.append(line);
        logical.emplace_back(start_line, std::move(cur));
        cur.clear();
      }
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
    if (!cur.empty()) logical.emplace_back(start_line, std::move(cur));
  }

  std::vector<RequirementLine> out;
  for (auto& [line_no, raw] : logical) {
    const auto where = "line " + std::to_string(line_no);
    // Comments: '#' at the start or after white space (pip's rule).
    std::string line = raw;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' && (i == 0 || is_ws(line[i - 1]))) {
        line.resize(i);
        break;
      }
    }
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    line = line.substr(first, line.find_last_not_of(" \t") - first + 1);
    if (line.front() == '-') {
      const auto opt = line.substr(0, line.find_first_of(" \t="));
      error = where;
      error += ": pip option '" + opt;
      error += "' is not allowed (only --hash may follow a requirement; taskrunner sets the index)";
      out.clear();
      return out;
    }
    RequirementLine req;
    req.line = line_no;
    // Split off trailing --hash options.
    std::size_t opt_pos = line.find(" --");
    if (opt_pos == std::string::npos) opt_pos = line.find("\t--");
    std::string options;
    if (opt_pos != std::string::npos) {
      options = line.substr(opt_pos);
      line = line.substr(0, opt_pos);
    }
    req.requirement = line.substr(0, line.find_last_not_of(" \t") + 1);
    if (auto e = check_requirement(req.requirement)) {
      error = where + ": '" + req.requirement + "' is not a valid requirement: " + *e;
      out.clear();
      return out;
    }
    std::size_t p = 0;
    while (p < options.size()) {
      const auto s = options.find_first_not_of(" \t", p);
      if (s == std::string::npos) break;
      auto e = options.find_first_of(" \t", s);
      if (e == std::string::npos) e = options.size();
      std::string tok = options.substr(s, e - s);
      p = e;
      if (tok == "--hash") {  // "--hash ALGO:HEX"
        const auto s2 = options.find_first_not_of(" \t", p);
        if (s2 == std::string::npos) {
          error = where + ": --hash needs a value";
          out.clear();
          return out;
        }
        auto e2 = options.find_first_of(" \t", s2);
        if (e2 == std::string::npos) e2 = options.size();
        tok = "--hash=" + options.substr(s2, e2 - s2);
        p = e2;
      }
      if (!tok.starts_with("--hash=")) {
        error = where + ": pip option '" + tok.substr(0, tok.find('=')) +
                "' is not allowed (only --hash may follow a requirement)";
        out.clear();
        return out;
      }
      const std::string value = tok.substr(7);
      const auto colon = value.find(':');
      const bool ok =
          colon != std::string::npos && colon > 0 && colon + 1 < value.size() &&
          std::all_of(value.begin(), value.begin() + static_cast<long>(colon),
                      [](char ch) { return is_alnum(ch); }) &&
          std::all_of(value.begin() + static_cast<long>(colon) + 1, value.end(),
                      [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; });
      if (!ok) {
        error = where;
        error += ": --hash value '" + value;
        error += "' must be ALGORITHM:HEXDIGEST";
        out.clear();
        return out;
      }
      req.hashes.push_back(value);
    }
    out.push_back(std::move(req));
  }
  return out;
}

}  // namespace

util::Result<std::vector<RequirementLine>> parse_requirements(std::string_view text) {
  std::string error;
  auto lines = parse_lines(text, error);
  if (!error.empty()) return util::Status{error};
  return lines;
}

std::string render_requirements(const std::vector<RequirementLine>& lines) {
  std::string out;
  for (const auto& l : lines) {
    out += l.requirement;
    for (const auto& h : l.hashes) out += " --hash=" + h;
    out += '\n';
  }
  return out;
}

}  // namespace taskrunner::spec
