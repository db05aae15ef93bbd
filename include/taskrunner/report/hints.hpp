#pragma once
// The known failures and what to do about each: one table, used by every checkpoint that
// recognises a failure and mirrored in docs/hints.md (a test keeps both in step).
#include <string_view>

namespace taskrunner::report {

enum class Failure {
  read_only_cache,
  no_space,
  dns_failure,
  connection_refused,
  index_not_found,
  unknown_package,
  resolution_conflict,
  sdist_build_failed,
  step_timeout,
  volume_permission_denied,
  user_namespaces_blocked,
  interpreter_missing,
  transient_network,
  start_failed,
  terminated,
  cancelled,
  deadline,
  hash_mismatch,
  lock_mismatch,
};

/// A known failure: its stable id (recorded as `detail.failure`) and the hint shown with it.
struct Hint {
  std::string_view id;
  std::string_view text;
};

/// The table entry for `failure`.
const Hint& hint_for(Failure failure);

/// The failure for an errno seen while probing or writing a volume: EROFS → read_only_cache,
/// EACCES/EPERM → volume_permission_denied, ENOSPC/EDQUOT → no_space; anything else none.
bool failure_for_errno(int err, Failure& out);

}  // namespace taskrunner::report
