#pragma once
// Shared pieces of the unit tests: a scoped temp dir, an environment builder and the fake of the
// process seam (execution::ProcessRunner) that answers from a script instead of starting
// processes.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "taskrunner/execution/process.hpp"
#include "taskrunner/util/env.hpp"

namespace testutil {

/// A fresh directory under /tmp, removed with everything in it at the end of the scope.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "taskrunner-unit") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] std::filesystem::path operator/(const std::string& rel) const { return path / rel; }
};

/// Writes `text` to `p`, creating its parent directories.
inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

/// The whole content of `p` ("" when missing).
inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// An environment built up key by key: Env().set("A", "1").set("B", "2").map.
struct Env {
  taskrunner::util::EnvMap map;
  Env& set(const std::string& key, const std::string& value) {
    map[key] = value;
    return *this;
  }
};

/// The process seam without processes. Every run() and start() is recorded; the answer comes
/// from `script`, given the command (default: exit 0). Background runs finish at once, and their
/// `on_finished` is called when the next foreground run() starts, as the real runner would call
/// it while driving the event loop — so a failing background build cancels that run.
class FakeRunner final : public taskrunner::execution::ProcessRunner {
 public:
  using Script = std::function<taskrunner::execution::RunResult(
      const taskrunner::execution::Command&, const taskrunner::execution::RunOptions&)>;
  struct Call {
    taskrunner::execution::Command command;
    taskrunner::execution::RunOptions options;
    bool background = false;
  };

  Script script;
  std::vector<Call> calls;
  /// false: background runs never finish by themselves (finished() stays false until stop()).
  bool background_finishes = true;
  /// Set when a background run was stopped.
  bool stopped = false;

  /// A result that started and exited with `code`.
  static taskrunner::execution::RunResult exited(int code, std::string tail = "") {
    taskrunner::execution::RunResult r;
    r.started = true;
    r.exit_code = code;
    r.raw_status = (code & 0xff) << 8;
    r.output_tail = std::move(tail);
    return r;
  }

  /// The names (executable file name + first argument) of the calls so far, in order.
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& c : calls) {
      out.push_back(c.command.executable.filename().string() +
                    (c.command.args.empty() ? "" : " " + c.command.args.front()));
    }
    return out;
  }

  taskrunner::execution::RunResult run(const taskrunner::execution::Command& c,
                                       const taskrunner::execution::RunOptions& o) override {
    calls.push_back({c, o, false});
    cancelled_ = false;
    if (pending_) {
      auto done = std::move(pending_);
      done();
    }
    auto r = answer(c, o);
    if (cancelled_) {
      r.cancelled = true;
      r.exit_code = 143;
    }
    return r;
  }

  std::unique_ptr<taskrunner::execution::BackgroundRun> start(
      const taskrunner::execution::Command& c, const taskrunner::execution::RunOptions& o,
      const taskrunner::execution::OnFinished& on_finished) override {
    calls.push_back({c, o, true});
    struct Done final : taskrunner::execution::BackgroundRun {
      FakeRunner* owner = nullptr;
      taskrunner::execution::RunResult result;
      bool finishes = true;
      [[nodiscard]] bool finished() const override { return finishes; }
      taskrunner::execution::RunResult wait() override { return result; }
      taskrunner::execution::RunResult stop() override {
        owner->stopped = true;
        if (!finishes) result = exited(128 + 15);
        return result;
      }
    };
    auto done = std::make_unique<Done>();
    done->owner = this;
    done->finishes = background_finishes;
    done->result = answer(c, o);
    if (on_finished && background_finishes) {
      pending_ = [on_finished, r = done->result] { on_finished(r); };
    }
    return done;
  }

  void cancel_running() override { cancelled_ = true; }

 private:
  taskrunner::execution::RunResult answer(const taskrunner::execution::Command& c,
                                          const taskrunner::execution::RunOptions& o) {
    return script ? script(c, o) : exited(0);
  }
  std::function<void()> pending_;
  bool cancelled_ = false;
};

}  // namespace testutil
