#!/usr/bin/python3
"""System-dependency benchmark: taskrunner's system_deps step against the old platform's loop,
measured in the same run with Debian's nix-bin and the fixture nixpkgs (tests/fixtures/nixpkgs).

Baseline ("old loop"): what the old script did per attribute — `nix-env -iA <attr>` into a profile,
one evaluation per attribute, every run (here: a fresh profile per run, the fixture as nixpkgs).
Candidates: taskrunner with SYSTEM_DEPS — cold (new key: a fresh GC-root dir and fixture salt, so
everything is really built) and warm (the same key again: out-link valid, no Nix process).
The numbers are each run's `system_deps` checkpoint duration_ms (for taskrunner) and the whole
loop's wall time (for the baseline); no Python dependencies, so nothing else competes.

Usage: benchmarks/system_deps.py [--runs N]   (needs a build and nix-build on PATH; as root)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKRUNNER = os.path.join(ROOT, "build", "taskrunner")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "nixpkgs")
ATTRS = ["shout", "tools.hello"]
NIX_CONFIG = "sandbox = false\nsubstituters =\nbuild-users-group =\nexperimental-features = nix-command"


def base_env(work, salt):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKRUNNER_", "PIP_"))}
    env.update(NIX_CONFIG=NIX_CONFIG, TASKRUNNER_NIXPKGS=FIXTURE, TASKRUNNER_FIXTURE_SALT=salt,
               TASKRUNNER_WORK_DIR=work, TASKRUNNER_NIX_ROOTS=os.path.join(work, "roots"),
               TASKRUNNER_PYTHON=sys.executable, PIP_CONFIG_FILE=os.devnull,
               SYSTEM_DEPS=" ".join(ATTRS))
    return env


def taskrunner_ms(env):
    subprocess.run([TASKRUNNER, "--code", "pass"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(env["TASKRUNNER_WORK_DIR"], "results", "checkpoints.json")) as fh:
        doc = json.load(fh)
    rec = {c["id"]: c for c in doc["checkpoints"]}
    return rec["system_deps"]["duration_ms"] + rec["nix"]["duration_ms"], rec["system_deps"]["detail"]["cache"]


def old_loop_ms(env, work):
    profile = os.path.join(work, "profile")
    t0 = time.perf_counter()
    for attr in ATTRS:
        subprocess.run(["nix-env", "-f", FIXTURE, "--profile", profile, "-iA", attr], env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rows = {"old loop, warm store": [], "taskrunner cold": [], "taskrunner warm": []}
    warm_salt = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="bench-sysdeps-") as tmp:
        warm_work = os.path.join(tmp, "warm")
        taskrunner_ms(base_env(warm_work, warm_salt))  # builds the warm key once
        for i in range(args.runs):
            w = os.path.join(tmp, f"old{i}")
            os.makedirs(w)
            rows["old loop, warm store"].append(old_loop_ms(base_env(w, warm_salt), w))
            ms, cache = taskrunner_ms(base_env(os.path.join(tmp, f"cold{i}"), uuid.uuid4().hex))
            assert cache == "miss"
            rows["taskrunner cold"].append(ms)
            ms, cache = taskrunner_ms(base_env(warm_work, warm_salt))
            assert cache == "hit"
            rows["taskrunner warm"].append(ms)
    base = statistics.median(rows["old loop, warm store"])
    print(f"system deps {ATTRS}, {args.runs} runs each, medians (nix + system_deps checkpoints)")
    print(f"{'row':<24}{'median ms':>12}{'vs old loop':>14}")
    for name, values in rows.items():
        m = statistics.median(values)
        print(f"{name:<24}{m:>12.1f}{m / base:>13.3f}x")


if __name__ == "__main__":
    main()
