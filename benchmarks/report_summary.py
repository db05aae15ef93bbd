#!/usr/bin/python3
"""`taskrunner report --summary` over many runs: one real run's checkpoints.json copied into N
synthetic results dirs (durations, cache results and failures varied from a fixed seed), then the
summary timed over the whole tree, interleaved with a baseline in the same run: `find DIR -name
checkpoints.json -exec cat {} +` (reading the same files, nothing parsed). Medians of --runs.

Usage: benchmarks/report_summary.py [--docs N] [--runs N]   (needs a build)
"""
import argparse
import copy
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import TASKRUNNER, clean_env  # noqa: E402


def real_document(scratch):
    work = os.path.join(scratch, "seed")
    subprocess.run([TASKRUNNER], env=clean_env(TASKRUNNER_WORK_DIR=work, PYTHON_CODE="pass",
                                               TASKRUNNER_PYTHON=sys.executable),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(work, "results", "checkpoints.json")) as fh:
        return json.load(fh)


def synthesise(seed_doc, n, root):
    rng = random.Random(42)
    for i in range(n):
        doc = copy.deepcopy(seed_doc)
        doc["run_id"] = f"{i:016x}"
        for c in doc["checkpoints"]:
            c["duration_ms"] = int(rng.lognormvariate(3, 1.5))
        venv = next(c for c in doc["checkpoints"] if c["id"] == "venv")
        venv["detail"]["env_cache"] = {"result": rng.choice(["hit"] * 8 + ["miss", "rebuilt"]),
                                       "mode": "inplace"}
        if rng.random() < 0.05:
            deps = next(c for c in doc["checkpoints"] if c["id"] == "python_deps")
            deps.update(status="failed", error={"message": "m", "hint": "check the name"})
            deps["detail"]["failure"] = rng.choice(["unknown_package", "index_unreachable"])
            doc["exit_code"] = 125
        d = os.path.join(root, f"{i // 1000:02d}", f"run{i}")
        os.makedirs(d)
        with open(os.path.join(d, "checkpoints.json"), "w") as fh:
            json.dump(doc, fh)


def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="bench-summary-")
    try:
        root = os.path.join(scratch, "results")
        synthesise(real_document(scratch), args.docs, root)
        out = subprocess.run([TASKRUNNER, "report", "--summary", "--json", root],
                             stdout=subprocess.PIPE, check=True)
        assert json.loads(out.stdout)["runs"] == args.docs
        summary, cat = [], []
        for _ in range(args.runs):
            summary.append(timed([TASKRUNNER, "report", "--summary", "--json", root]))
            cat.append(timed(["find", root, "-name", "checkpoints.json", "-exec", "cat", "{}", "+"]))
        s, c = statistics.median(summary), statistics.median(cat)
        print(f"report --summary over {args.docs} documents: {s:.3f} s median of {args.runs} "
              f"({args.docs / s:.0f} documents/s); reading them with find + cat: {c:.3f} s "
              f"({s / c:.1f}x)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
