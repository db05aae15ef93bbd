#pragma once
// Command line: `taskrunner [run] [options] [-- ARGS…]`, `--help`, `--version`.
namespace taskrunner::app {

/// The whole program: parses argv (Boost.Program_options), reads the environment and spec,
/// runs the pipeline and returns the exit code (README "Exit codes").
int main(int argc, char** argv);

}  // namespace taskrunner::app
