#pragma once
// The one convention for fallible functions inside the core: `Status` when there is nothing to
// return, `Result<T>` when there is — a value, or a Status saying what failed (a message naming
// the path, with strerror where an errno is behind it, and that errno). At the pipeline's
// boundary a failure becomes a report::StepError carrying checkpoint + message + hint.
#include <string>
#include <utility>
#include <variant>

namespace taskrunner::util {

/// Success (empty `error`) or what failed.
struct Status {
  std::string error;
  int err = 0;  ///< the errno behind `error`, when there is one
  [[nodiscard]] bool ok() const { return error.empty(); }
};

/// A T, or the Status of why there is none. Converts from a T (success) and from a failed
/// Status (use fail()).
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT(google-explicit-constructor)
  Result(Status failure) : v_(std::move(failure)) {}  // NOLINT(google-explicit-constructor)

  /// A failure with `message` (and the errno behind it, if any).
  static Result fail(std::string message, int err = 0) { return Status{std::move(message), err}; }

  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  /// The failure (only when !ok()).
  [[nodiscard]] const Status& status() const { return std::get<1>(v_); }
  /// The failure's message; empty on success.
  [[nodiscard]] std::string error() const { return ok() ? std::string() : status().error; }

 private:
  std::variant<T, Status> v_;
};

}  // namespace taskrunner::util
