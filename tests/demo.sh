#!/usr/bin/env bash
# Demo: serves a loopback package index of real wheels and runs a task that installs packages
# from it and prints from them, through build/taskrunner. Needs a build (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(bash tests/test-python.sh)
"$PY" tests/fixtures/build_index.py build/test-index
port_file=$(mktemp)
"$PY" tests/fixtures/index_server.py build/test-index --lifetime 300 > "$port_file" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$port_file"' EXIT
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(head -1 "$port_file")
work=$(mktemp -d /tmp/taskrunner-demo-XXXX)
# As root the code runs as nobody (TASKRUNNER_RUN_AS, docs/security.md): it must reach the venv.
chmod 755 "$work"
env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null \
  TASKRUNNER_WORK_DIR="$work" UV_CACHE_DIR="$work/cache" TASKRUNNER_PYTHON="$PY" \
  TASKRUNNER_ENV_CACHE="$work/env-cache" \
  TASKRUNNER_INDEX_URL="http://127.0.0.1:$port/simple" \
  PYTHON_DEPS="requests, pydantic>=1.10 jsonschema PyYAML" \
  PYTHON_CODE='
import os, sys, requests, pydantic, jsonschema, yaml
class Task(pydantic.BaseModel):
    name: str
    retries: int
t = Task(name="demo", retries="3")
jsonschema.validate({"n": 1}, {"type": "object"})
doc = yaml.load("a: [1, 2]", Loader=yaml.CSafeLoader)
print(f"demo: {t!r} via pydantic {pydantic.VERSION}, requests {requests.__version__}, "
      f"yaml {doc} via libyaml, args {sys.argv[1:]}, uid {os.getuid()}")
' ./build/taskrunner -- hello
echo "demo: checkpoints in $work/results/checkpoints.json, log in $work/results/taskrunner.log"
