#!/usr/bin/python3
"""Environment-cache benchmark: everything in one go, every number measured in this run.

1. Start-up of a task with dependencies, medians of --runs runs (after one unmeasured run that
   warms pip's cache and the environment cache; every warm run gets the same work dir path,
   emptied outside the timing, as a new pod does), with the caches (pip's, UV_CACHE_DIR,
   TASKRUNNER_ENV_CACHE) on local disk and again on sshfs over 127.0.0.1 (tests/e2e/mounts.py,
   standing in for NFS; skipped when sshfs/sshd/FUSE are unavailable):
     old flow       bash: python -m venv, pip install -r (pip cache warm), python -c; with uv:
                    the seed's uv flow (uv venv, uv pip install -r with a warm uv cache, python -c)
     off            taskrunner, TASKRUNNER_ENV_MODE=off (venv + install every run)
     cold auto      taskrunner, a new env cache each run: install, compile, publish
     warm snapshot  taskrunner, entry present: restore the tar.zst, run
     tar -xf        `tar -I zstd -xf` of that same archive into an empty dir (same round)
     warm inplace   taskrunner, entry present: run the published venv directly
     floor          the venv's python -c CODE, nothing else
2. Log streaming: 256 MiB written by the user code, through taskrunner (pod log + log file) vs
   `python … | tee file`.
3. Eight concurrent cold runners on one key: builds counted, wall time vs one cold runner.
4. Restore time vs environment size (warm snapshot rows).

Writes the table to stdout, the numbers to docs/benchmarks/env-cache.json and a chart to
docs/benchmarks/env-cache.png (Debian's python3-matplotlib, run with /usr/bin/python3).

Every row runs once with pip as the installer and once with the real uv (uv 0.11.28 from
../shared/tools/uv, TASKRUNNER_TEST_UV or PATH) when there is one (--installer pip|uv|both).

Usage: benchmarks/env_cache.py [--runs N] [--no-netfs] [--installer both]
       (root; needs a build; the index is built from Debian's packages)
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
# The test index plus the bench set (sympy, networkx, boto3 and their deps) and the heavy set
# (numpy, pandas, scipy), all repacked from Debian's packages.
BENCH_INDEX = os.path.join(ROOT, "build", "bench-index")
subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fixtures", "build_index.py"),
                BENCH_INDEX, "--set", "bench", "--set", "heavy"], check=True)
os.environ["TASKRUNNER_TEST_INDEX"] = BENCH_INDEX
from harness import REAL_UV, TASKRUNNER, IndexServer, clean_env  # noqa: E402
from startup import BASH_FLOW, BASH_FLOW_UV, timed  # noqa: E402
import mounts as netfs  # noqa: E402  (tests/e2e/mounts.py)

SETS = {
    "six (1 dist)": ("six", "import six"),
    "requests+pydantic (9 dists)": ("requests pydantic", "import requests, pydantic"),
    "requests+pydantic+sympy+networkx+boto3 (17 dists)": (
        "requests pydantic sympy networkx boto3",
        "import requests, pydantic, sympy, networkx, boto3"),
    "numpy+pandas+scipy (7 dists)": ("numpy pandas scipy", "import numpy, pandas, scipy.linalg"),
}
ROWS = ("old flow", "off", "cold auto", "warm snapshot", "tar -xf", "warm inplace", "floor")
OUT_DIR = os.path.join(ROOT, "docs", "benchmarks")


FAILURES = []


def attempt(cmd, env):
    """The run's seconds, or None when it fails: reported in the table as a failure, not hidden,
    and its output's tail kept for the failures list printed at the end."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode != 0:
        FAILURES.append((" ".join(cmd)[:80], p.returncode, p.stderr.decode(errors="replace")[-800:]))
        return None
    return time.perf_counter() - t0


def med(values):
    ok = [v for v in values if v is not None]
    return statistics.median(ok) if len(ok) == len(values) and ok else None


def checkpoint(work, cid):
    with open(os.path.join(work, "results", "checkpoints.json")) as fh:
        return next(c for c in json.load(fh)["checkpoints"] if c["id"] == cid)


def startup(server, base, runs, scratch, uv=None):
    """Rows for each dependency set with all caches under `base`; with `uv` (a uv binary) the old
    flow is the seed's uv flow and taskrunner installs with that uv, else both use pip."""
    out, restores = {}, []
    for n, (name, (deps, code)) in enumerate(SETS.items()):
        rows = {k: [] for k in ROWS}
        tag = "uv" if uv else "pip"
        pip_cache, uv_cache = os.path.join(base, f"pip{n}"), os.path.join(base, f"uv{n}-{tag}")
        env_cache = os.path.join(base, f"env{n}-{tag}")
        common = dict(TASKRUNNER_PYTHON=sys.executable, TASKRUNNER_INDEX_URL=server.url,
                      PYTHON_CODE=code, PYTHON_DEPS=deps, UV_CACHE_DIR=uv_cache,
                      TASKRUNNER_TOOLS_DIR=os.path.join(scratch, "no-tools"))
        if uv:
            common["TASKRUNNER_UV"] = uv
        warm = os.path.join(scratch, f"warm{n}-{tag}")
        for i in range(runs + 1):
            wb = tempfile.mkdtemp(dir=scratch)
            with open(os.path.join(wb, "requirements.txt"), "w") as fh:
                fh.write(deps.replace(" ", "\n") + "\n")
            if uv:
                old = attempt(["bash", "-c", BASH_FLOW_UV],
                            clean_env(BASE_PY=sys.executable, WORK=wb, INDEX=server.url, UV=uv,
                                      PYTHON_CODE=code, UV_CACHE_DIR=uv_cache + "-old"))
            else:
                old = attempt(["bash", "-c", BASH_FLOW],
                            clean_env(BASE_PY=sys.executable, WORK=wb, INDEX=server.url,
                                      PYTHON_CODE=code, PIP_CACHE_DIR=pip_cache))
            t = {"old flow": old}
            t["off"] = attempt([TASKRUNNER], clean_env(TASKRUNNER_WORK_DIR=os.path.join(scratch, "off"),
                                                     TASKRUNNER_ENV_MODE="off", **common))
            cold_cache = tempfile.mkdtemp(dir=base)
            t["cold auto"] = attempt([TASKRUNNER], clean_env(
                TASKRUNNER_WORK_DIR=os.path.join(scratch, "cold"), TASKRUNNER_ENV_MODE="auto",
                TASKRUNNER_ENV_CACHE=cold_cache, **common))
            shutil.rmtree(cold_cache, ignore_errors=True)
            # What a new pod sees: the same work dir path, empty (removed outside the timing).
            for d in (warm, warm + "-i"):
                shutil.rmtree(d, ignore_errors=True)
            t["warm snapshot"] = attempt([TASKRUNNER], clean_env(
                TASKRUNNER_WORK_DIR=warm, TASKRUNNER_ENV_MODE="snapshot",
                TASKRUNNER_ENV_CACHE=env_cache, **common))
            t["tar -xf"] = None
            if t["warm snapshot"] is not None:
                v = checkpoint(warm, "venv")["detail"]["env_cache"]
                # The same archive extracted by tar into an empty dir, in the same round.
                archive = os.path.join(env_cache, "envs", v["key"] + "-snapshot", "venv.tar.zst")
                into = tempfile.mkdtemp(dir=scratch)
                t["tar -xf"] = timed(["tar", "-I", "zstd", "-xf", archive, "-C", into], clean_env())
                shutil.rmtree(into, ignore_errors=True)
                if i > 0:
                    restores.append((v["bytes_restored"], v["content_bytes"], v["restore_ms"],
                                     round(1000 * t["tar -xf"])))
            t["warm inplace"] = attempt([TASKRUNNER], clean_env(
                TASKRUNNER_WORK_DIR=warm + "-i", TASKRUNNER_ENV_MODE="inplace",
                TASKRUNNER_ENV_CACHE=env_cache, **common))
            t["floor"] = attempt([os.path.join(wb, "venv", "bin", "python"), "-c", code], clean_env())
            if i > 0:
                for k in ROWS:
                    rows[k].append(t[k])
            shutil.rmtree(wb, ignore_errors=True)
        out[name] = {k: med(v) for k, v in rows.items()}
    return out, restores


def streaming(scratch, mib=256):
    code = ("import sys\nb = b'x' * 1023 + b'\\n'\nw = sys.stdout.buffer.write\n"
            f"for _ in range({mib} * 1024): w(b)\n")
    log = os.path.join(scratch, "tee.log")
    tee = timed(["bash", "-c", f'"$PY" -c "$CODE" | tee {log} > /dev/null'],
                clean_env(PY=sys.executable, CODE=code))
    tr = timed([TASKRUNNER, "--code", code],
               clean_env(TASKRUNNER_WORK_DIR=os.path.join(scratch, "stream"),
                         TASKRUNNER_PYTHON=sys.executable, TASKRUNNER_ENV_MODE="off"))
    size = os.path.getsize(os.path.join(scratch, "stream", "results", "taskrunner.log"))
    assert size >= mib * 1024 * 1024, size
    return {"MiB": mib, "tee_MiB_per_s": mib / tee, "taskrunner_MiB_per_s": mib / tr,
            "ratio": tee / tr}


def concurrent(server, scratch, n=8):
    deps, code = SETS["requests+pydantic (9 dists)"]

    def run(i, cache, results):
        work = os.path.join(scratch, f"conc-{os.path.basename(cache)}-{i}")
        t0 = time.perf_counter()
        p = subprocess.run([TASKRUNNER], env=clean_env(
            TASKRUNNER_WORK_DIR=work, TASKRUNNER_PYTHON=sys.executable,
            TASKRUNNER_INDEX_URL=server.url, PYTHON_CODE=code, PYTHON_DEPS=deps,
            UV_CACHE_DIR=os.path.join(scratch, "conc-uv"), TASKRUNNER_ENV_MODE="inplace",
            TASKRUNNER_ENV_CACHE=cache, TASKRUNNER_TOOLS_DIR=os.path.join(scratch, "no-tools")),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode != 0:
            FAILURES.append((f"concurrent runner {i}", p.returncode,
                             p.stderr.decode(errors="replace")[-800:]))
            results[i] = (time.perf_counter() - t0, "failed")
            return
        results[i] = (time.perf_counter() - t0,
                      checkpoint(work, "python_deps")["detail"]["env_cache"]["result"])

    one = [None]
    run(0, tempfile.mkdtemp(dir=scratch), one)
    many = [None] * n
    cache = tempfile.mkdtemp(dir=scratch)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i, cache, many)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"runners": n, "builds": sum(1 for _, r in many if r == "miss"),
            "failed": sum(1 for _, r in many if r == "failed"),
            "one_runner_s": one[0][0], "all_runners_wall_s": wall,
            "ratio": wall / one[0][0]}


def chart(data, path):
    script = r'''
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
d = json.load(open(sys.argv[1]))
locs = list(d["startup"].keys())
fig, axes = plt.subplots(1, len(locs), figsize=(7 * len(locs), 4.5), squeeze=False)
for ax, loc in zip(axes[0], locs):
    sets = list(d["startup"][loc].keys())
    rows = list(d["startup"][loc][sets[0]].keys())
    w = 0.8 / len(rows)
    for i, r in enumerate(rows):
        ax.bar([j + i * w for j in range(len(sets))],
               [d["startup"][loc][s][r] or 0 for s in sets], w, label=r)
    ax.set_xticks([j + 0.4 - w / 2 for j in range(len(sets))])
    ax.set_xticklabels([s.replace(" (", "\n(") for s in sets], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (median, log scale)")
    ax.set_title("caches on " + loc)
    ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
'''
    src = os.path.join(OUT_DIR, "env-cache.json")
    r = subprocess.run(["/usr/bin/python3", "-c", script, src, path])
    return r.returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-netfs", action="store_true")
    ap.add_argument("--installer", choices=("pip", "uv", "both"), default="both",
                    help="uv rows need a real uv (TASKRUNNER_TEST_UV, ../shared/tools/uv, PATH)")
    args = ap.parse_args()
    installers = [None] if args.installer in ("pip", "both") else []  # None: pip
    if args.installer in ("uv", "both"):
        if REAL_UV:
            installers.append(REAL_UV)
        else:
            print("env_cache: no real uv found: uv rows left out", file=sys.stderr)
    scratch = tempfile.mkdtemp(prefix="bench-envcache-")
    data = {"runs": args.runs, "startup": {}, "restore": {}}
    with IndexServer(lifetime=6 * 3600) as server:  # the whole run takes longer than a test
        for uv in installers:
            tag = "uv" if uv else "pip"
            local = tempfile.mkdtemp(dir=scratch)
            data["startup"][f"local disk, {tag}"], restores = startup(server, local, args.runs,
                                                                      scratch, uv)
            data["restore"][f"local disk, {tag}"] = restores
            if not args.no_netfs and netfs.available():
                with netfs.Sshfs() as mnt:
                    data["startup"][f"sshfs, {tag}"], restores = startup(server, mnt, args.runs,
                                                                         scratch, uv)
                    data["restore"][f"sshfs, {tag}"] = restores
        data["streaming"] = streaming(scratch)
        data["concurrent"] = concurrent(server, scratch)
    shutil.rmtree(scratch, ignore_errors=True)

    print(f"start-up, medians of {args.runs} runs, seconds (ratio to old flow); uv: "
          f"{REAL_UV or 'none'}")
    for loc, sets in data["startup"].items():
        print(f"\ncaches on {loc}")
        print(f"{'dependency set':42}" + "".join(f"{c:>16}" for c in ROWS))
        for name, r in sets.items():
            def cell(c):
                if r[c] is None:
                    return f"{'failed':>16}"
                ratio = f"{r[c] / r['old flow']:5.2f}x" if r["old flow"] else "      "
                return f"{r[c]:9.3f} {ratio}"
            print(f"{name:42}" + "".join(cell(c) for c in ROWS))
        for name, r in sets.items():
            def over(row):
                if r[row] is None or r["floor"] is None:
                    return "failed"
                return f"{1000 * (r[row] - r['floor']):.0f} ms"
            cold = ("failed" if r["cold auto"] is None or r["old flow"] is None
                    else f"{r['cold auto'] / r['old flow']:.2f}")
            print(f"  {name}: warm inplace - floor {over('warm inplace')},"
                  f" warm snapshot - floor {over('warm snapshot')}, cold/old {cold}")
    print("\nrestore (warm snapshot): archive bytes, content bytes, restore ms, tar -xf ms, ratio")
    for loc, rs in data["restore"].items():
        for a, c, ms, tar in rs:
            print(f"  {loc:10} {a:>10} {c:>11} {ms:>6} {tar:>6} {ms / max(tar, 1):5.2f}x")
    s = data["streaming"]
    print(f"\nstreaming {s['MiB']} MiB: tee {s['tee_MiB_per_s']:.0f} MiB/s, taskrunner "
          f"{s['taskrunner_MiB_per_s']:.0f} MiB/s ({s['ratio']:.2f}x of tee)")
    c = data["concurrent"]
    print(f"{c['runners']} concurrent cold runners, one key: {c['builds']} build(s), {c['failed']} failed, wall "
          f"{c['all_runners_wall_s']:.2f} s vs one runner {c['one_runner_s']:.2f} s "
          f"({c['ratio']:.2f}x)")
    data["failures"] = [{"command": c, "exit_code": rc, "stderr_tail": tail}
                        for c, rc, tail in FAILURES]
    for c, rc, tail in FAILURES:
        print(f"\nFAILED (exit {rc}): {c}\n{tail}")
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "env-cache.json"), "w") as fh:
        json.dump(data, fh, indent=2)
    png = os.path.join(OUT_DIR, "env-cache.png")
    print(f"\nwrote {OUT_DIR}/env-cache.json" + (f" and {png}" if chart(data, png) else
                                                 " (no chart: /usr/bin/python3 lacks matplotlib)"))


if __name__ == "__main__":
    main()
