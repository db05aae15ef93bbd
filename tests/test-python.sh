#!/usr/bin/env bash
# Prints a Python 3 interpreter that has the distributions the test index is built from
# (tests/fixtures/build_index.py): python3 on PATH, else a pyenv interpreter.
for py in "$(command -v python3 2>/dev/null)" /root/.pyenv/versions/*/bin/python3; do
  [ -x "$py" ] || continue
  if "$py" -c 'import requests, pydantic, jsonschema, rpds, markupsafe, dateutil, pip' 2>/dev/null; then
    "$py" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
echo "test-python: no python3 with requests, pydantic, jsonschema, rpds-py, MarkupSafe, python-dateutil and pip" >&2
exit 1
