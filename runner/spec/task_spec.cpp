#include "taskrunner/spec/task_spec.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "taskrunner/spec/index_url.hpp"
#include "taskrunner/spec/nix_attr.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::spec {
namespace {

constexpr std::size_t kMaxRequirementsBytes = std::size_t{1} << 20;

std::vector<std::string> deps_from_json(const nlohmann::json& v, const std::string& field,
                                        bool system) {
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    return system ? split_system_deps(s) : split_deps(s);
  }
  if (!v.is_array()) throw SpecError(field, "must be a string or an array of strings");
  std::vector<std::string> out;
  for (const auto& item : v) {
    if (!item.is_string()) throw SpecError(field, "every item must be a string");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string string_field(const nlohmann::json& v, const std::string& field) {
  if (!v.is_string()) throw SpecError(field, "must be a string");
  return v.get<std::string>();
}

}  // namespace

SpecInput from_environment(const util::EnvMap& env) {
  SpecInput in;
  in.code = util::get(env, "PYTHON_CODE");
  in.code_file = util::get(env, "PYTHON_CODE_FILE");
  if (in.code && in.code_file) {
    throw SpecError("PYTHON_CODE", "both PYTHON_CODE and PYTHON_CODE_FILE are set; set only one");
  }
  if (auto deps = util::get(env, "PYTHON_DEPS")) in.deps = split_deps(*deps);
  in.requirements = util::get(env, "REQUIREMENTS");
  in.requirements_file = util::get(env, "REQUIREMENTS_FILE");
  // Empty means none: a WorkflowTemplate passes its parameter's default "" when no lock is given.
  if (auto lock = util::get(env, "REQUIREMENTS_LOCK"); lock && !lock->empty()) {
    in.requirements_lock = lock;
  }
  if (auto sys = util::get(env, "SYSTEM_DEPS")) in.system_deps = split_system_deps(*sys);
  if (auto uc = util::get(env, "USE_CACHE")) {
    in.use_cache = util::parse_bool(*uc);
    if (!in.use_cache) throw SpecError("USE_CACHE", "'" + *uc + "' is not true or false");
  }
  for (const char* var :
       {"TASKRUNNER_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"}) {
    if (auto v = util::get(env, var)) {
      in.index_url = v;
      break;
    }
  }
  return in;
}

void overlay_json(SpecInput& in, const std::string& json_text, const std::string& source) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number beyond a double (1e999): found by fuzz_spec.
    throw SpecError(source, std::string("malformed JSON: ") + e.what());
  }
  if (!doc.is_object()) throw SpecError(source, "the spec must be a JSON object");
  for (const auto& [key, v] : doc.items()) {
    if (key == "schema_version") {
      if (v != 1) throw SpecError(key, "only schema_version 1 is supported");
    } else if (key == "python_code") {
      in.code = string_field(v, key);
      in.code_file.reset();
    } else if (key == "python_code_file") {
      in.code_file = string_field(v, key);
      in.code.reset();
    } else if (key == "python_deps") {
      in.deps = deps_from_json(v, key, false);
    } else if (key == "requirements") {
      in.requirements = string_field(v, key);
    } else if (key == "requirements_file") {
      in.requirements_file = string_field(v, key);
    } else if (key == "requirements_lock") {
      in.requirements_lock = string_field(v, key);
      if (in.requirements_lock->empty()) in.requirements_lock.reset();
    } else if (key == "system_deps") {
      in.system_deps = deps_from_json(v, key, true);
    } else if (key == "use_cache") {
      if (!v.is_boolean()) throw SpecError(key, "must be true or false");
      in.use_cache = v.get<bool>();
    } else if (key == "index_url") {
      in.index_url = string_field(v, key);
    } else if (key == "args") {
      if (!v.is_array()) throw SpecError(key, "must be an array of strings");
      in.args = deps_from_json(v, key, false);
    } else {
      throw SpecError(
          key, "unknown field in " + source +
                   " (known: python_code, python_code_file, python_deps, "
                   "requirements, requirements_file, requirements_lock, system_deps, use_cache, "
                   "index_url, args, schema_version)");
    }
  }
}

namespace {

/// `value` for an error message: at most 120 bytes of it, so a hostile input cannot blow up
/// the record that names it.
std::string quoted(const std::string& value) {
  if (value.size() <= 120) return value;
  return value.substr(0, 100) + "… (" + std::to_string(value.size()) + " bytes)";
}

/// A string that becomes one argv element of the user code: no NUL (it would silently cut the
/// string in two) and shorter than the kernel's limit for one argument.
void check_argv_string(const std::string& value, const std::string& field, const char* hint) {
  if (value.find('\0') != std::string::npos) {
    throw SpecError(field, "contains a NUL byte, which cannot reach Python's argv intact");
  }
  if (value.size() >= kMaxArgBytes) {
    throw SpecError(field, "is " + std::to_string(value.size()) +
                               " bytes; one argument may hold at most " +
                               std::to_string(kMaxArgBytes - 1) + " (Linux MAX_ARG_STRLEN)" + hint);
  }
}

}  // namespace

TaskSpec validate(const SpecInput& in, bool require_code) {
  TaskSpec spec;
  if (in.code) {
    check_argv_string(*in.code, "PYTHON_CODE", ": put the code in a file and use PYTHON_CODE_FILE");
  }
  if (in.code_file) check_argv_string(*in.code_file, "PYTHON_CODE_FILE", "");
  for (const auto& a : in.args) check_argv_string(a, "args", "");
  if (in.code && in.code_file) {
    throw SpecError("PYTHON_CODE", "both code and a code file are given; give only one");
  }
  if (in.code) {
    if (in.code->find_first_not_of(" \t\r\n") == std::string::npos) {
      throw SpecError("PYTHON_CODE", "the code is empty");
    }
    spec.code = in.code;
  } else if (in.code_file) {
    const std::filesystem::path p = *in.code_file;
    struct stat st {};
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw SpecError("PYTHON_CODE_FILE", util::errno_message("cannot open", p, errno));
    const bool ok = ::fstat(fd, &st) == 0;
    ::close(fd);
    if (!ok || !S_ISREG(st.st_mode)) {
      throw SpecError("PYTHON_CODE_FILE", p.string() + " is not a regular file");
    }
    if (st.st_size == 0) throw SpecError("PYTHON_CODE_FILE", p.string() + " is empty");
    spec.code_file = std::filesystem::absolute(p);
  } else if (require_code) {
    throw SpecError("PYTHON_CODE",
                    "no code to run: set PYTHON_CODE or PYTHON_CODE_FILE (or pass --code / "
                    "--code-file, or python_code in the spec)");
  }

  for (const auto& dep : in.deps) {
    if (auto e = check_requirement(dep)) {
      throw SpecError("PYTHON_DEPS", "'" + quoted(dep) + "' is not a valid requirement: " + *e);
    }
    spec.python_deps.push_back({dep, {}, 0});
  }
  const auto add_requirements = [&](const std::string& text, const std::string& field) {
    const auto lines = parse_requirements(text);
    if (!lines) throw SpecError(field, lines.error());
    spec.python_deps.insert(spec.python_deps.end(), lines->begin(), lines->end());
  };
  if (in.requirements) add_requirements(*in.requirements, "REQUIREMENTS");
  if (in.requirements_file) {
    auto text = util::read_file(*in.requirements_file, kMaxRequirementsBytes);
    if (!text) throw SpecError("REQUIREMENTS_FILE", text.error());
    add_requirements(*text, "REQUIREMENTS_FILE");
  }

  if (in.requirements_lock) {
    const std::filesystem::path p = *in.requirements_lock;
    auto text = util::read_file(p, kMaxLockBytes);
    if (!text) throw SpecError("REQUIREMENTS_LOCK", text.error());
    auto lock = parse_lock(*text);
    if (!lock) throw SpecError("REQUIREMENTS_LOCK", p.string() + ": " + lock.error());
    // A lock pins what was resolved for a request; an edited request needs a new resolution.
    for (const auto& r : spec.python_deps) {
      const auto name = normalize_name(requirement_name(r.requirement));
      const bool pinned = std::any_of(lock->distributions.begin(), lock->distributions.end(),
                                      [&](const auto& d) { return d.name == name; });
      if (!pinned) {
        throw SpecError("REQUIREMENTS_LOCK",
                        p.string() + " does not pin '" + quoted(name) +
                            "', which the task requests: rerun without REQUIREMENTS_LOCK to "
                            "resolve the edited request anew");
      }
    }
    spec.lock = std::move(*lock);
    spec.lock_file = std::filesystem::absolute(p);
  }

  for (const auto& attr : in.system_deps) {
    if (auto e = check_nix_attribute(attr)) {
      throw SpecError("SYSTEM_DEPS", "'" + quoted(attr) + "' " + *e);
    }
    if (attr == "conda" || attr == "miniconda" || attr == "anaconda") {
      // The old platform installed Miniconda here; taskrunner does not (docs/system-deps.md).
      throw SpecError(
          "SYSTEM_DEPS",
          "'" + attr +
              "' is not installed by taskrunner: put Python packages in "
              "PYTHON_DEPS and native tools in SYSTEM_DEPS as nixpkgs attributes (for a "
              "conda-compatible command line, ask for 'micromamba')");
    }
    if (std::find(spec.system_deps.begin(), spec.system_deps.end(), attr) ==
        spec.system_deps.end()) {
      spec.system_deps.push_back(attr);
    }
  }

  if (in.index_url) {
    if (const auto ep = parse_index_url(*in.index_url); !ep) {
      throw SpecError("TASKRUNNER_INDEX_URL", ep.error());
    }
    spec.index_url = in.index_url;
  }
  spec.use_cache = in.use_cache.value_or(true);
  spec.args = in.args;
  return spec;
}

nlohmann::json describe(const TaskSpec& spec) {
  nlohmann::json d;
  if (spec.code) {
    d["code"] = "inline";
    d["code_bytes"] = spec.code->size();
  } else if (spec.code_file) {
    d["code"] = "file";
    d["code_file"] = spec.code_file->string();
  }
  d["args"] = spec.args.size();
  nlohmann::json names = nlohmann::json::array();
  for (const auto& r : spec.python_deps) names.push_back(requirement_name(r.requirement));
  d["python_deps"] = names;
  if (spec.lock_file) {
    d["requirements_lock"] = {{"path", spec.lock_file->string()},
                              {"digest", lock_digest(*spec.lock)},
                              {"distributions", spec.lock->distributions.size()}};
  }
  d["system_deps"] = spec.system_deps;
  d["use_cache"] = spec.use_cache;
  d["index_url"] = redact_url(spec.index_url.value_or(std::string(kDefaultIndexUrl)));
  return d;
}

}  // namespace taskrunner::spec
