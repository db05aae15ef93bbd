#!/usr/bin/python3
"""Warm start of a new pod, what issue "A new pod on a warm cache starts at the floor" measures:
an environment-cache entry is there, the pod's work dir is new (a fresh directory per run,
removed outside the timing), the code is `pass`-like. Rows, interleaved in every round, medians:

    floor            the published venv's python -c CODE, nothing else
    <binary>         taskrunner with TASKRUNNER_ENV_MODE=inplace (or --mode snapshot), for each
                     binary given: e.g. the build of main and the build of a change
    tar -xf          (snapshot) `tar -I zstd -xf` of the entry's archive into an empty dir

Prints each binary's median, its distance to the floor (ms) and its ratio to the first binary;
with --mode snapshot also each binary's `venv` checkpoint (the restore) ÷ tar -xf of the same
archive in the same round (median of the per-round ratios).

    /usr/bin/python3 benchmarks/warm_start.py [--runs 25] [--mode inplace] [--set six]
        [BINARY ...]          (default: build/taskrunner)

Root; the loopback index of the tests (build/test-index, tests/fixtures/build_index.py), or for
`--set bench` and `--set heavy` the benchmarks' index (build/bench-index, made by
benchmarks/env_cache.py or `tests/fixtures/build_index.py build/bench-index --set bench --set
heavy`)."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

SETS = {"six": ("six", "import six"),
        "requests+pydantic": ("requests pydantic", "import requests, pydantic"),
        "jsonschema+jinja2+yaml": ("jsonschema jinja2 pyyaml requests pydantic",
                                   "import jsonschema, jinja2, yaml, requests, pydantic"),
        "bench": ("requests pydantic sympy networkx boto3",
                  "import requests, pydantic, sympy, networkx, boto3"),
        "heavy": ("numpy pandas scipy", "import numpy, pandas, scipy.linalg")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binaries", nargs="*", default=[os.path.join(ROOT, "build", "taskrunner")])
    ap.add_argument("--runs", type=int, default=25)
    ap.add_argument("--mode", choices=["inplace", "snapshot"], default="inplace")
    ap.add_argument("--set", choices=list(SETS), default="six")
    args = ap.parse_args()
    if args.set in ("bench", "heavy"):
        os.environ["TASKRUNNER_TEST_INDEX"] = os.path.join(ROOT, "build", "bench-index")
    global IndexServer, clean_env  # noqa: PLW0603 (the harness reads the index at import)
    from harness import IndexServer, clean_env  # noqa: E402
    deps, code = SETS[args.set]
    scratch = tempfile.mkdtemp(prefix="warm-start-")
    cache = os.path.join(scratch, "env-cache")

    def env(work, server):
        return clean_env(TASKRUNNER_WORK_DIR=work, TASKRUNNER_ENV_CACHE=cache,
                         TASKRUNNER_ENV_MODE=args.mode, TASKRUNNER_INDEX_URL=server.url,
                         TASKRUNNER_PYTHON="/usr/bin/python3", TASKRUNNER_RUN_AS="off",
                         TASKRUNNER_TOOLS_DIR=os.path.join(scratch, "no-tools"),
                         UV_CACHE_DIR=os.path.join(scratch, "uv-cache"), PYTHON_DEPS=deps,
                         PYTHON_CODE=code)

    try:
        with IndexServer() as server:
            # Every pod sees its work dir at the same path, empty (a snapshot's key holds the venv
            # path, which is under it): one path, removed after each run outside the timing.
            pod = os.path.join(scratch, "pod")
            first = pod
            r = subprocess.run([args.binaries[0]], env=env(first, server), capture_output=True)
            if r.returncode != 0:
                sys.exit(r.stderr.decode(errors="replace")[-3000:])
            with open(os.path.join(first, "results", "checkpoints.json")) as fh:
                venv = [c for c in json.load(fh)["checkpoints"] if c["id"] == "venv"][0]
            # The floor runs the venv restored there, kept aside.
            venv_python = os.path.join(scratch, "floor-venv", "bin", "python")
            shutil.copytree(venv["detail"]["path"], os.path.dirname(os.path.dirname(venv_python)),
                            symlinks=True)
            if args.mode == "inplace":
                venv_python = os.path.join(venv["detail"]["path"], "bin", "python")
            shutil.rmtree(pod)
            for b in args.binaries:  # one unmeasured run each (their own records on the volume)
                subprocess.run([b], env=env(pod, server), capture_output=True, check=True)
                shutil.rmtree(pod)
            times = {b: [] for b in args.binaries}
            ratios = {b: [] for b in args.binaries}
            tar_times = []
            floor = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                subprocess.run([venv_python, "-c", code], check=True)
                floor.append(time.perf_counter() - t0)
                for b in args.binaries:
                    work = pod  # a new pod: its work dir is empty
                    t0 = time.perf_counter()
                    r = subprocess.run([b], env=env(work, server), capture_output=True)
                    times[b].append(time.perf_counter() - t0)
                    if r.returncode != 0:
                        sys.exit(r.stderr.decode(errors="replace")[-3000:])
                    with open(os.path.join(work, "results", "checkpoints.json")) as fh:
                        v = [c for c in json.load(fh)["checkpoints"] if c["id"] == "venv"][0]
                    assert v["detail"]["env_cache"]["result"] == "hit", v
                    shutil.rmtree(work)  # outside the timing
                    if args.mode == "snapshot":
                        key = v["detail"]["env_cache"]["key"]
                        archive = os.path.join(cache, "envs", key + "-snapshot", "venv.tar.zst")
                        into = tempfile.mkdtemp(dir=scratch)
                        t0 = time.perf_counter()
                        subprocess.run(["tar", "-I", "zstd", "-xf", archive, "-C", into],
                                       check=True)
                        tar = time.perf_counter() - t0
                        shutil.rmtree(into)
                        tar_times.append(tar)
                        ratios[b].append(v["duration_ms"] / 1000 / tar)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    f = statistics.median(floor) * 1000
    base = statistics.median(times[args.binaries[0]]) * 1000
    print(f"warm {args.mode}, set {args.set}, fresh work dir per run, medians of {args.runs} "
          "interleaved rounds")
    print(f"{'':<44} {'median ms':>10} {'- floor ms':>11} {'÷ first':>8}")
    print(f"{'floor (venv python -c CODE)':<44} {f:>10.1f}")
    for b in args.binaries:
        m = statistics.median(times[b]) * 1000
        print(f"{os.path.relpath(b, ROOT):<44} {m:>10.1f} {m - f:>11.1f} {m / base:>8.2f}")
    if args.mode == "snapshot":
        print(f"{'tar -I zstd -xf of the same archive':<44} "
              f"{statistics.median(tar_times) * 1000:>10.1f}")
        for b in args.binaries:
            print(f"venv checkpoint ÷ tar -xf, {os.path.relpath(b, ROOT):<28} "
                  f"{statistics.median(ratios[b]):>10.2f}")


if __name__ == "__main__":
    main()
