#!/usr/bin/env bash
# Prints the interpreter the tests, the demo and the benchmarks run with: Debian's /usr/bin/python3,
# never another one found on the machine. Fails, naming what to install, when it lacks what they
# import (tests/install-deps.sh installs it all).
py=/usr/bin/python3
if [ ! -x "$py" ]; then
  echo "test-python: $py is missing: run tests/install-deps.sh (Debian's python3)" >&2
  exit 1
fi
if ! out=$("$py" -I -c 'import jsonschema, venv, ensurepip, pip, requests, pydantic, yaml' 2>&1); then
  echo "test-python: $py cannot import what the tests need ($out): run tests/install-deps.sh" >&2
  exit 1
fi
echo "$py"
