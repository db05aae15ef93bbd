// taskrunner: the container ENTRYPOINT that prepares a Python environment and runs a task.
#include "taskrunner/app/cli.hpp"

int main(int argc, char** argv) { return taskrunner::app::main(argc, argv); }
