#!/usr/bin/python3
"""Start-up benchmark: taskrunner against the old platform's bash flow, measured in the same run.

Baseline ("bash script"): what the old generated script does on a machine without uv —
`python -m venv`, `pip install -r requirements.txt`, `python -c CODE`, driven by bash.
Candidate: build/taskrunner with the same interpreter, index and cache (pip fallback; no uv here).

Scenarios: no dependencies; three requirements (15 distributions) with a warm pip cache.
Each is run --runs times, alternating baseline and candidate; medians and ratios are printed.

Usage: benchmarks/startup.py [--runs N]   (needs a build and tests/fixtures; loopback only)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("TASKRUNNER_TEST_INDEX", os.path.join(ROOT, "build", "test-index"))
from harness import TASKRUNNER, IndexServer, clean_env  # noqa: E402

BASH_FLOW = r'''
set -e
"$BASE_PY" -m venv --clear "$WORK/venv"
if [ -s "$WORK/requirements.txt" ]; then
  "$WORK/venv/bin/pip" install --disable-pip-version-check -q -r "$WORK/requirements.txt" --index-url "$INDEX"
fi
"$WORK/venv/bin/python" -c "$PYTHON_CODE"
'''

# The old flow as the seed ran it with uv (uv from the image instead of `pip install uv`):
# `uv venv`, `uv pip install -r`, `python -c`, uv's cache in UV_CACHE_DIR.
BASH_FLOW_UV = r'''
set -e
"$UV" venv -q --python "$BASE_PY" "$WORK/venv"
if [ -s "$WORK/requirements.txt" ]; then
  "$UV" pip install -q --python "$WORK/venv/bin/python" -r "$WORK/requirements.txt" --default-index "$INDEX"
fi
"$WORK/venv/bin/python" -c "$PYTHON_CODE"
'''


def timed(cmd, env):
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fixtures", "build_index.py"),
                    os.environ["TASKRUNNER_TEST_INDEX"]], check=True)
    scenarios = {
        "no deps": ("", "print(1)"),
        "3 deps (11 dists), warm cache": ("requests\npydantic>=1.10\njsonschema\n",
                                          "import requests, pydantic, jsonschema"),
    }
    root = tempfile.mkdtemp(prefix="taskrunner-bench-")
    print(f"{'scenario':34} {'bash script':>12} {'taskrunner':>11} {'ratio':>7}   (median of {args.runs}, seconds)")
    with IndexServer() as server:
        for name, (reqs, code) in scenarios.items():
            cache = os.path.join(root, "cache-" + str(abs(hash(name))))
            times = {"bash": [], "tr": []}
            for i in range(args.runs + 1):  # run 0 warms the caches and is not counted
                work_b = tempfile.mkdtemp(dir=root)
                with open(os.path.join(work_b, "requirements.txt"), "w") as fh:
                    fh.write(reqs)
                env_b = clean_env(BASE_PY=sys.executable, WORK=work_b, INDEX=server.url,
                                  PYTHON_CODE=code, PIP_CACHE_DIR=cache + "-pip-bash")
                tb = timed(["bash", "-c", BASH_FLOW], env_b)
                work_t = os.path.join(root, "tr-work")  # one work dir: warm runs reuse it
                env_t = clean_env(TASKRUNNER_WORK_DIR=work_t, UV_CACHE_DIR=cache,
                                  TASKRUNNER_PYTHON=sys.executable, TASKRUNNER_INDEX_URL=server.url,
                                  PYTHON_CODE=code, PYTHON_DEPS=reqs.replace("\n", " "),
                                  TASKRUNNER_TOOLS_DIR=os.path.join(root, "no-tools"),
                                  TASKRUNNER_ENV_MODE="off")  # the install itself (env_cache.py)
                tt = timed([TASKRUNNER], env_t)
                if i > 0:
                    times["bash"].append(tb)
                    times["tr"].append(tt)
                shutil.rmtree(work_b, ignore_errors=True)
            mb = statistics.median(times["bash"])
            mt = statistics.median(times["tr"])
            print(f"{name:34} {mb:12.3f} {mt:11.3f} {mb / mt:6.1f}x")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
