// Checkpoint 1, `spec`: the task from the environment, a JSON spec file and the flags.
#include "steps.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::app::steps {

std::optional<Loaded> spec(report::Recorder& rec, const util::EnvMap& env, const SpecFlags& flags,
                           bool doctor, bool warm) {
  rec.start(report::Id::spec);
  Loaded out;
  try {
    out.settings = load_settings(env);
    spec::SpecInput input = spec::from_environment(env);
    const auto spec_file = flags.spec_file ? flags.spec_file : util::get(env, "TASKRUNNER_SPEC");
    if (spec_file) {
      const auto text = util::read_file(*spec_file, std::size_t{16} * 1024 * 1024);
      if (!text) throw spec::SpecError("--spec", text.error());
      spec::overlay_json(input, *text, *spec_file);
    }
    if (flags.code) {
      input.code = flags.code;
      input.code_file.reset();
    }
    if (flags.code_file) {
      input.code_file = flags.code_file;
      input.code.reset();
    }
    if (flags.deps) input.deps = *flags.deps;
    if (flags.requirements_file) {
      input.requirements_file = flags.requirements_file;
      input.requirements.reset();
    }
    if (flags.requirements_lock) input.requirements_lock = flags.requirements_lock;
    if (flags.system_deps) input.system_deps = *flags.system_deps;
    if (!flags.args.empty()) input.args = flags.args;
    out.task = spec::validate(input, /*require_code=*/!doctor && !warm);
  } catch (const spec::SpecError& e) {
    rec.finish(report::Id::spec, report::Status::failed, {{"field", e.field}},
               report::ErrorInfo{e.what(),
                                 "fix " + e.field + " (see taskrunner --help and docs/spec.md)"});
    report::log().error("invalid task: {}", e.what());
    return std::nullopt;
  } catch (const SettingsError& e) {
    rec.finish(report::Id::spec, report::Status::failed, {{"field", e.variable}},
               report::ErrorInfo{e.what(), "fix " + e.variable + " (see README)"});
    report::log().error("invalid setting: {}", e.what());
    return std::nullopt;
  }
  out.settings.exec = out.settings.exec || flags.exec;
  out.settings.doctor = doctor;
  out.settings.warm_only = warm;
  if (out.settings.progress_file) rec.set_progress_file(*out.settings.progress_file);
  rec.finish(report::Id::spec, report::Status::ok, spec::describe(out.task));
  return out;
}

}  // namespace taskrunner::app::steps
