#!/usr/bin/env python3
"""Environment-cache benchmark: start-up of a task with dependencies, every row measured in the
same run, medians of --runs runs (after one unmeasured run that warms pip's cache and, for the
warm rows, the environment cache).

Rows (caches on this machine's local disk; see docs/env-cache.md for what is not measured):
  old flow       bash: python -m venv, pip install -r (pip cache warm), python -c   (no uv here)
  off            taskrunner, TASKRUNNER_ENV_MODE=off (venv + pip install every run)
  cold snapshot  taskrunner, a new env cache each run: install, compile, archive, publish
  warm snapshot  taskrunner, entry present: restore the tar.zst, run
  warm inplace   taskrunner, entry present: run the published venv directly
  floor          the venv's python -c CODE, nothing else

Usage: benchmarks/env_cache.py [--runs N] [--json OUT]   (needs a build and the test index)
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("TASKRUNNER_TEST_INDEX", os.path.join(ROOT, "build", "test-index"))
from harness import TASKRUNNER, IndexServer, clean_env  # noqa: E402
from startup import BASH_FLOW, timed  # noqa: E402

SETS = {
    "six (1 dist)": ("six", "import six"),
    "requests+pydantic (9 dists)": ("requests pydantic", "import requests, pydantic"),
    "requests+pydantic+jsonschema (15 dists)": ("requests pydantic jsonschema",
                                                "import requests, pydantic, jsonschema"),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="bench-envcache-")
    results = {}
    with IndexServer() as server:
        for name, (deps, code) in SETS.items():
            pip_cache = os.path.join(root, "pip-" + str(abs(hash(name))))
            uv_cache = os.path.join(root, "uv-" + str(abs(hash(name))))
            rows = {k: [] for k in ("old flow", "off", "cold snapshot", "warm snapshot",
                                    "warm inplace", "floor")}
            common = dict(TASKRUNNER_PYTHON=sys.executable, TASKRUNNER_INDEX_URL=server.url,
                          PYTHON_CODE=code, PYTHON_DEPS=deps, UV_CACHE_DIR=uv_cache,
                          TASKRUNNER_TOOLS_DIR=os.path.join(root, "no-tools"))
            warm_work = os.path.join(root, "warm-" + str(abs(hash(name))))
            for i in range(args.runs + 1):
                wb = tempfile.mkdtemp(dir=root)
                with open(os.path.join(wb, "requirements.txt"), "w") as fh:
                    fh.write(deps.replace(" ", "\n") + "\n")
                old = timed(["bash", "-c", BASH_FLOW],
                            clean_env(BASE_PY=sys.executable, WORK=wb, INDEX=server.url,
                                      PYTHON_CODE=code, PIP_CACHE_DIR=pip_cache))
                off = timed([TASKRUNNER], clean_env(TASKRUNNER_WORK_DIR=os.path.join(root, "off"),
                                                    TASKRUNNER_ENV_MODE="off", **common))
                cold_cache = tempfile.mkdtemp(dir=root)
                cold = timed([TASKRUNNER], clean_env(TASKRUNNER_WORK_DIR=os.path.join(root, "cold"),
                                                     TASKRUNNER_ENV_MODE="snapshot",
                                                     TASKRUNNER_ENV_CACHE=cold_cache, **common))
                shutil.rmtree(cold_cache, ignore_errors=True)
                snap = timed([TASKRUNNER], clean_env(TASKRUNNER_WORK_DIR=warm_work,
                                                     TASKRUNNER_ENV_MODE="snapshot",
                                                     TASKRUNNER_ENV_CACHE=warm_work + "-cache",
                                                     **common))
                inpl = timed([TASKRUNNER], clean_env(TASKRUNNER_WORK_DIR=warm_work + "-i",
                                                     TASKRUNNER_ENV_MODE="inplace",
                                                     TASKRUNNER_ENV_CACHE=warm_work + "-cache",
                                                     **common))
                floor = timed([os.path.join(wb, "venv", "bin", "python"), "-c", code], clean_env())
                if i > 0:
                    for k, v in zip(rows, (old, off, cold, snap, inpl, floor)):
                        rows[k].append(v)
                shutil.rmtree(wb, ignore_errors=True)
            results[name] = {k: statistics.median(v) for k, v in rows.items()}
    shutil.rmtree(root, ignore_errors=True)
    print(f"medians of {args.runs} runs, seconds; ratio = row / old flow (local disk)")
    cols = list(next(iter(results.values())).keys())
    print(f"{'dependency set':42}" + "".join(f"{c:>15}" for c in cols))
    for name, r in results.items():
        print(f"{name:42}" + "".join(f"{r[c]:9.3f} {r[c] / r['old flow']:4.2f}x" for c in cols))
    for name, r in results.items():
        print(f"{name}: warm inplace - floor = {1000 * (r['warm inplace'] - r['floor']):.0f} ms; "
              f"warm snapshot - floor = {1000 * (r['warm snapshot'] - r['floor']):.0f} ms")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"runs": args.runs, "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
