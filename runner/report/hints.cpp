#include "taskrunner/report/hints.hpp"

#include <array>
#include <cerrno>

namespace taskrunner::report {

const Hint& hint_for(Failure failure) {
  static constexpr std::array<Hint, 19> kHints = {{
      {"read_only_cache",
       "the cache volume is mounted read-only: mount the PVC read-write (readOnly: false, "
       "access mode ReadWriteMany); this run continues without a cache"},
      {"no_space",
       "the volume is full: give the pod more ephemeral storage or an emptyDir at "
       "TASKRUNNER_WORK_DIR, grow or prune the cache PVC (uv cache prune), or lower "
       "TASKRUNNER_MIN_FREE_MB if the task really needs less"},
      {"dns_failure",
       "the index host name does not resolve: check TASKRUNNER_INDEX_URL and the pod's DNS "
       "(kubectl exec … -- getent hosts HOST)"},
      {"connection_refused",
       "nothing listens at the index address: check the host and port of TASKRUNNER_INDEX_URL "
       "and that the index service is up"},
      {"index_not_found",
       "the index answered 404 for its own page: the URL path is wrong (a PEP 503 index usually "
       "ends in /simple)"},
      {"unknown_package",
       "the index does not have this package: check the spelling (PEP 503 names) and that the "
       "index serves it"},
      {"resolution_conflict",
       "the requirements cannot all be satisfied together: read the installer's explanation in "
       "the log and loosen one of the pins"},
      {"sdist_build_failed",
       "a package had to be built from source and its build failed: publish a wheel for this "
       "platform to the index, or add the build's system dependencies (SYSTEM_DEPS)"},
      {"step_timeout",
       "the step ran past its time limit: raise TASKRUNNER_INSTALL_TIMEOUT or "
       "TASKRUNNER_CODE_TIMEOUT (seconds), or check the index and network speed"},
      {"volume_permission_denied",
       "this user may not write to the volume: set the pod's securityContext fsGroup (or "
       "runAsUser) to match the volume's owner, or fix the PVC's permissions"},
      {"user_namespaces_blocked",
       "user namespaces are not available, so nix-portable cannot use bwrap: allow them "
       "(kernel.unprivileged_userns_clone, the runtime's seccomp profile) or set "
       "NP_RUNTIME=proot"},
      {"interpreter_missing",
       "no Python interpreter: install Python in the image or set TASKRUNNER_PYTHON to its path"},
      {"transient_network",
       "the index connection failed on every retry: check the index's health and the pod's "
       "network path; TASKRUNNER_INSTALL_RETRIES sets how often to retry"},
      {"start_failed",
       "the program could not be started: check that the file exists, is executable and "
       "matches this CPU"},
      {"terminated",
       "the pod is being stopped (cancelled workflow or deadline); nothing to fix in the task"},
      {"cancelled",
       "this step was stopped because the step running beside it failed: fix that one first "
       "(its error is recorded in its checkpoint)"},
      {"deadline",
       "the workflow's ARGO_DEADLINE leaves no more time: give the workflow a later "
       "activeDeadlineSeconds, or make the setup or the code faster"},
      {"hash_mismatch",
       "a file the index served does not have the sha256 the lock pins: the index changed a "
       "published file (or the lock was edited); rerun without REQUIREMENTS_LOCK to resolve anew, "
       "and tell the index's owners"},
      {"lock_mismatch",
       "the lock was resolved for another interpreter or platform: rerun with the Python it names "
       "(TASKRUNNER_PYTHON, the image) or without REQUIREMENTS_LOCK to resolve anew"},
  }};
  return kHints.at(static_cast<std::size_t>(failure));
}

bool failure_for_errno(int err, Failure& out) {
  switch (err) {
    case EROFS: out = Failure::read_only_cache; return true;
    case EACCES:
    case EPERM: out = Failure::volume_permission_denied; return true;
    case ENOSPC:
    case EDQUOT: out = Failure::no_space; return true;
    default: return false;
  }
}

}  // namespace taskrunner::report
