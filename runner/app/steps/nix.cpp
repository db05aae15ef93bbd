// Checkpoint 7, `nix`: nix-portable or nix, its store mode and version, and the system
// environment's key and out-link (docs/system-deps.md). No Nix process when the environment is
// already built.
#include "steps.hpp"
#include "taskrunner/report/log.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::app::steps {
namespace {

using report::FailureKind;
using report::Id;
using report::StepError;

/// How long `nix --version` may take for a real Nix (nix-portable's first start may unpack for
/// longer and gets the install timeout).
constexpr std::chrono::milliseconds kNixProbe{10000};

/// The key, its out-link and whether that link already holds the environment (no process).
void prepare(SystemDeps& sys, const spec::TaskSpec& spec, const Settings& s) {
  const auto& nix = *sys.nix;
  sys.request.attrs = spec.system_deps;
  sys.request.nixpkgs = s.nixpkgs;
  sys.request.nix_path = util::get(s.env, "NIX_PATH").value_or("");
  sys.request.system = environment::nix_system();
  const auto key = environment::system_env_key(sys.request);
  const auto roots = s.nix_roots.value_or(environment::default_roots_dir(nix, s.env));
  sys.out_link = roots / key;
  sys.detail = {{"key", key},
                {"attributes", spec.system_deps},
                {"nixpkgs", s.nixpkgs.empty() ? "<nixpkgs>" : s.nixpkgs},
                {"system", sys.request.system},
                {"out_link", sys.out_link.string()},
                {"store_mode", nix.mode() == tools::StoreMode::portable ? "portable" : "native"}};
  if (auto hit = environment::valid_root(nix, s.env, sys.out_link)) {
    sys.store_path = *hit;
    sys.detail["cache"] = "hit";
    sys.detail["store_path"] = hit->string();
    return;
  }
  sys.detail["cache"] = "miss";
}

/// Its mode, store and version. nix-portable's first start unpacks into NP_LOCATION, which is
/// unsafe for two processes at once, so its version probe runs under a lock on the volume.
report::Outcome check(const tools::NixTool& nix, const Settings& s,
                      execution::ProcessRunner& runner, bool warm) {
  report::Outcome o;
  const bool portable = nix.mode() == tools::StoreMode::portable;
  o.detail = {{"path", nix.path.string()},
              {"kind", nix.kind},
              {"source", nix.source},
              {"store_mode", portable ? "portable" : "native"},
              {"store_dir", tools::real_store_dir(nix, s.env).string()}};
  if (warm || (portable && s.doctor)) {
    o.detail["version"] = nullptr;
    o.detail["reason"] = warm ? "system environment already built: Nix not started"
                              : "doctor writes nothing: nix-portable not started (its first "
                                "start unpacks into NP_LOCATION)";
    return o;
  }
  std::optional<util::FileLock> lock;
  if (portable) {
    const auto np = tools::np_location(s.env);
    o.detail["np_location"] = np.string();
    o.detail["runtime"] = util::get(s.env, "NP_RUNTIME").value_or("auto");
    bool waited = false;
    if (const auto made = util::make_dirs(np); !made.ok()) {
      throw StepError(Id::nix, FailureKind::failed, made.error,
                      "set NP_LOCATION to a writable directory on the Nix volume", o.detail);
    }
    auto locked = util::lock_file(tools::portable_startup_lock(s.env), s.install_timeout, &waited);
    if (!locked && util::lock_unsupported(locked.status().err)) {
      report::log().warn("nix: {}; starting without the start-up lock", locked.error());
      o.detail["startup_lock"] = "unsupported: " + locked.error();
      locked = util::FileLock();
    }
    if (!locked) {
      throw StepError(Id::nix, FailureKind::failed, locked.error(),
                      "another pod's nix-portable start-up holds the lock; if none runs, check "
                      "that NP_LOCATION's volume supports flock",
                      o.detail);
    }
    lock = std::move(*locked);
    o.detail["startup_lock_waited"] = waited;
  }
  const auto version = tools::nix_version(
      nix, s.env, runner, portable ? std::chrono::milliseconds(s.install_timeout) : kNixProbe);
  if (!version) {
    throw StepError(Id::nix, FailureKind::failed, version.error(),
                    portable ? "nix-portable could not start: check NP_RUNTIME (bwrap needs user "
                               "namespaces; proot works without) and the runtime checkpoint"
                             : "check the nix installation and that the /nix volume is mounted",
                    o.detail);
  }
  o.detail["version"] = *version;
  return o;
}

}  // namespace

SystemDeps nix(const Checkpoints& cp, const Settings& s, const spec::TaskSpec& spec,
               execution::ProcessRunner& runner) {
  SystemDeps sys;
  cp.run(Id::nix, [&] {
    sys.nix = tools::find_nix(s.nix_portable, s.tools_dir, util::get(s.env, "PATH").value_or(""));
    if (spec.system_deps.empty() && !(s.doctor && sys.nix)) {
      report::Outcome o;
      o.status = report::Status::skipped;
      o.detail["reason"] = "no system dependencies requested";
      return o;
    }
    if (!sys.nix) {
      throw StepError(Id::nix, FailureKind::failed,
                      "system dependencies were requested but neither nix-portable nor nix was "
                      "found",
                      "put nix-portable at " + (s.tools_dir / "nix-portable").string() +
                          " or set TASKRUNNER_NIX_PORTABLE; with the Nix store volume mounted at "
                          "/nix, a nix on PATH works too");
    }
    if (!spec.system_deps.empty()) prepare(sys, spec, s);
    return check(*sys.nix, s, runner, sys.store_path.has_value());
  });
  return sys;
}

}  // namespace taskrunner::app::steps
