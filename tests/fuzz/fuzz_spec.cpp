// Fuzz target: the task spec — a JSON spec document overlaid on an environment, then validated
// (spec::from_environment, spec::overlay_json, spec::validate). Input: the first line is a
// PYTHON_DEPS value, the rest the JSON document. Only SpecError may leave these functions.
#include <cstddef>
#include <cstdint>
#include <string>

#include "taskrunner/spec/task_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto newline = text.find('\n');
  taskrunner::util::EnvMap env{{"PYTHON_CODE", "pass"}};
  if (newline != std::string::npos) env["PYTHON_DEPS"] = text.substr(0, newline);
  const std::string json = newline == std::string::npos ? text : text.substr(newline + 1);
  try {
    auto input = taskrunner::spec::from_environment(env);
    taskrunner::spec::overlay_json(input, json, "fuzz.json");
    // Files named by the document are read, never created: keep the fuzzer off the disk.
    input.code_file.reset();
    input.requirements_file.reset();
    input.requirements_lock.reset();
    const auto spec = taskrunner::spec::validate(input);
    (void)taskrunner::spec::describe(spec).dump();
  } catch (const taskrunner::spec::SpecError&) {
  }
  return 0;
}
