// Checkpoint 6, `uv`: the installer found by `network`'s probe — uv, or the pip fallback (warn).
#include "steps.hpp"

namespace taskrunner::app::steps {

tools::Installer uv(const Checkpoints& cp, const Settings& s, const Probes& probes) {
  tools::Installer installer;
  cp.run(report::Id::uv, [&] {
    report::Outcome o;
    const std::string& error = probes.installer_error;
    if (!probes.installer) {
      throw report::StepError(
          report::Id::uv, report::FailureKind::failed, error,
          "point TASKRUNNER_UV at a working uv binary, or unset it to fall back to pip");
    }
    installer = *probes.installer;
    o.detail["tools_dir"] = s.tools_dir.string();
    if (installer.kind == tools::InstallerKind::uv) {
      o.detail["installer"] = "uv";
      o.detail["path"] = installer.uv.string();
      o.detail["version"] = installer.version;
      o.detail["source"] = installer.source;
      o.detail["version_from_cache"] = installer.version_from_cache;
    } else {
      o.detail["installer"] = "pip";
      o.status = report::Status::warn;
      o.error =
          report::ErrorInfo{error.empty() ? "uv not found; installing with pip" : error,
                            "put a uv binary at " + (s.tools_dir / "uv").string() +
                                " (the cache volume) or set TASKRUNNER_UV for faster installs"};
    }
    return o;
  });
  return installer;
}

}  // namespace taskrunner::app::steps
