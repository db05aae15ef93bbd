#!/usr/bin/python3
"""Environment-cache benchmark: everything in one go, every number measured in this run, and the
warm-path targets checked at the end.

Where: "local disk" is a journaled ext4 made for the run on a loop device (tests/e2e/mounts.py
LoopFs) — what a node's emptyDir and hostPath volumes are. It holds every work dir, the index's
caches and, for the local rows, the caches; "sshfs" puts the caches (pip's, UV_CACHE_DIR,
TASKRUNNER_ENV_CACHE) on sshfs over 127.0.0.1 instead (standing in for NFS; the export is on the
same loop ext4), the work dirs staying local. Why not this machine's own root file system: it is
an ext4 without a journal, whose inode allocator scans every inode freed in the last 60 s
(`recently_deleted`), so creating files right after a benchmark removed a venv costs up to 20×
what it costs a second later — whichever row comes after a removal pays (docs/env-cache.md).
`--local-dir DIR` measures on DIR instead.

1. Start-up of a task, per dependency set, with pip and with the real uv:
   cold rows, medians of --runs rounds (after one unmeasured round):
     old flow       bash: python -m venv, pip install -r (pip cache warm), python -c; with uv:
                    the seed's uv flow (uv venv, uv pip install -r with a warm uv cache, python -c)
     off            taskrunner, TASKRUNNER_ENV_MODE=off (venv + install every run)
     cold auto      taskrunner, a new env cache each run: install, compile, publish
   warm rows, medians of --warm-runs interleaved rounds, every run a new pod: the same work dir
   path (a snapshot's key holds the venv path), empty, removed outside the timing:
     warm snapshot  taskrunner, entry present: restore the tar.zst, run
     venv ckpt      that run's `venv` checkpoint (the restore), from its checkpoints.json
     tar -xf        `tar -I zstd -xf` of the same archive into an empty dir beside it
     warm inplace   taskrunner, entry present: run the published venv directly
     floor          the published venv's python -c CODE, nothing else, as the user code runs
                    (uid/gid 65534, PYTHONDONTWRITEBYTECODE=1 and PYTHONUNBUFFERED=1)
     in place − floor: the median of each round's difference (the two run back to back)
2. Log streaming: 256 MiB written by the user code, through taskrunner (stdout + log file) vs
   `python … | tee file`, interleaved rounds; taskrunner's own peak RSS (VmHWM, polled).
3. Eight concurrent cold runners on one key against one cold runner, interleaved rounds: builds
   counted, wall time ratio; the user code `pass` (the setup alone: the target) and the set's
   imports (reported beside the CPU floor of eight interpreters importing at once on this many
   cores, measured in the same run: one cold runner − one import + eight concurrent imports).
4. Restore time vs environment size (warm snapshot rounds).

Targets (issue "A new pod on a warm cache starts at the floor"), printed as met / MISSED:
warm in place − floor ≤ 10 ms for every set on local disk; venv ckpt ÷ tar -xf ≤ 1.0 (median of
the per-round ratios) for the 17-dist and the heavy set, local disk and sshfs; streaming ≥ 1.0×
tee with RSS ≤ 16 MiB; eight runners: one build (both user codes), wall ≤ 1.3× one runner (user
code `pass`; with imports the ratio is printed as information, against its CPU floor).

Writes the tables to stdout, the numbers to docs/benchmarks/env-cache.json and a chart to
docs/benchmarks/env-cache.png (Debian's python3-matplotlib, run with /usr/bin/python3).

Usage: benchmarks/env_cache.py [--runs 3] [--warm-runs 15] [--no-netfs] [--installer both]
       [--local-dir DIR] [--set NAME ...] [--part startup|streaming|concurrent ...]      (root; needs a build; the index is built from Debian's packages)
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
                BENCH_INDEX, "--set", "bench", "--set", "heavy"], check=True,
               stdout=subprocess.DEVNULL)
os.environ["TASKRUNNER_TEST_INDEX"] = BENCH_INDEX
from harness import REAL_UV, TASKRUNNER, IndexServer, clean_env  # noqa: E402
from startup import BASH_FLOW, BASH_FLOW_UV, timed  # noqa: E402
import mounts  # noqa: E402  (tests/e2e/mounts.py)

SETS = {
    "six (1 dist)": ("six", "import six"),
    "requests+pydantic (9 dists)": ("requests pydantic", "import requests, pydantic"),
    "requests+pydantic+sympy+networkx+boto3 (17 dists)": (
        "requests pydantic sympy networkx boto3",
        "import requests, pydantic, sympy, networkx, boto3"),
    "numpy+pandas+scipy (7 dists)": ("numpy pandas scipy", "import numpy, pandas, scipy.linalg"),
}
# The sets whose restore must be at or below tar (the large ones; the small ones are in the table).
RESTORE_TARGET_SETS = list(SETS)[2:]
COLD = ("old flow", "off", "cold auto")
WARM = ("warm snapshot", "venv ckpt", "tar -xf", "warm inplace", "floor")
ROWS = COLD + WARM
OUT_DIR = os.path.join(ROOT, "docs", "benchmarks")
MIB = 1024 * 1024
RUN_AS = 65534  # taskrunner's default TASKRUNNER_RUN_AS when started as root: the floor's user too

FAILURES = []
SELECTED = []  # --set: only these sets (all when empty)


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
    """Median, or None when any run failed (a row is whole or 'failed')."""
    ok = [v for v in values if v is not None]
    return statistics.median(ok) if ok and len(ok) == len(values) else None


def checkpoint(work, cid):
    with open(os.path.join(work, "results", "checkpoints.json")) as fh:
        return next(c for c in json.load(fh)["checkpoints"] if c["id"] == cid)


def mkdtemp(**kw):
    """A temp dir every uid can enter: started as root, taskrunner runs the user code as
    65534:65534 (TASKRUNNER_RUN_AS), which must reach the venv below it, as in a pod."""
    d = tempfile.mkdtemp(**kw)
    os.chmod(d, 0o755)
    return d


def fresh(path):
    """What a new pod sees: `path` does not exist (removed outside every timing)."""
    shutil.rmtree(path, ignore_errors=True)


def startup(server, base, runs, warm_runs, scratch, uv=None):
    """Rows for each dependency set with all caches under `base` and work dirs under `scratch`;
    with `uv` (a uv binary) the old flow is the seed's uv flow and taskrunner installs with that
    uv, else both use pip. Returns ({set: {row: median s}}, restores, ratios)."""
    out, restores, ratios = {}, [], {}
    tag = "uv" if uv else "pip"
    for n, (name, (deps, code)) in enumerate(SETS.items()):
        if SELECTED and name not in SELECTED:
            continue
        rows = {k: [] for k in ROWS}
        pip_cache, uv_cache = os.path.join(base, f"pip{n}"), os.path.join(base, f"uv{n}-{tag}")
        env_cache = os.path.join(base, f"env{n}-{tag}")
        common = dict(TASKRUNNER_PYTHON=sys.executable, TASKRUNNER_INDEX_URL=server.url,
                      PYTHON_CODE=code, PYTHON_DEPS=deps, UV_CACHE_DIR=uv_cache,
                      TASKRUNNER_TOOLS_DIR=os.path.join(scratch, "no-tools"))
        if uv:
            common["TASKRUNNER_UV"] = uv
        print(f"  {tag}, {name}: cold rounds", file=sys.stderr, flush=True)
        for i in range(runs + 1):
            wb = mkdtemp(dir=scratch)
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
            off = os.path.join(scratch, "off")
            fresh(off)
            t["off"] = attempt([TASKRUNNER], clean_env(TASKRUNNER_WORK_DIR=off,
                                                     TASKRUNNER_ENV_MODE="off", **common))
            cold_cache, cold = mkdtemp(dir=base), os.path.join(scratch, "cold")
            fresh(cold)
            t["cold auto"] = attempt([TASKRUNNER], clean_env(
                TASKRUNNER_WORK_DIR=cold, TASKRUNNER_ENV_MODE="auto",
                TASKRUNNER_ENV_CACHE=cold_cache, **common))
            shutil.rmtree(cold_cache, ignore_errors=True)
            shutil.rmtree(wb, ignore_errors=True)
            if i > 0:
                for k in COLD:
                    rows[k].append(t[k])
        # Warm rounds: the entries are published by one unmeasured run of each mode first.
        pod_s, pod_i = os.path.join(scratch, "pod-snapshot"), os.path.join(scratch, "pod-inplace")
        env_s = clean_env(TASKRUNNER_WORK_DIR=pod_s, TASKRUNNER_ENV_MODE="snapshot",
                          TASKRUNNER_ENV_CACHE=env_cache, **common)
        env_i = clean_env(TASKRUNNER_WORK_DIR=pod_i, TASKRUNNER_ENV_MODE="inplace",
                          TASKRUNNER_ENV_CACHE=env_cache, **common)
        print(f"  {tag}, {name}: warm rounds", file=sys.stderr, flush=True)
        # The floor runs the published in-place venv; where in place fails (sshfs), a copy of
        # the restored snapshot kept on local disk.
        floor_python = None
        fresh(pod_s)
        if attempt([TASKRUNNER], env_s) is not None:
            copy = os.path.join(scratch, "floor-venv")
            fresh(copy)
            shutil.copytree(os.path.join(pod_s, "venv"), copy, symlinks=True)
            floor_python = os.path.join(copy, "bin", "python")
        fresh(pod_i)
        inplace_ok = attempt([TASKRUNNER], env_i) is not None
        if inplace_ok:
            floor_python = os.path.join(checkpoint(pod_i, "venv")["detail"]["path"], "bin",
                                        "python")
        round_ratios, over = [], []
        for i in range(warm_runs):
            t = {}
            if floor_python:
                t0 = time.perf_counter()
                r = subprocess.run([floor_python, "-c", code], stdout=subprocess.DEVNULL,
                                   env=clean_env(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1"),
                                   user=RUN_AS, group=RUN_AS, extra_groups=[])
                t["floor"] = time.perf_counter() - t0 if r.returncode == 0 else None
            else:
                t["floor"] = None
            fresh(pod_i)
            # In place over sshfs fails (docs/env-cache.md): tried in the first round only.
            t["warm inplace"] = attempt([TASKRUNNER], env_i) if inplace_ok else None
            inplace_ok = inplace_ok and t["warm inplace"] is not None
            fresh(pod_s)
            t["warm snapshot"] = attempt([TASKRUNNER], env_s)
            t["venv ckpt"] = t["tar -xf"] = None
            if t["warm snapshot"] is not None:
                v = checkpoint(pod_s, "venv")
                assert v["detail"]["env_cache"]["result"] == "hit", v
                t["venv ckpt"] = v["duration_ms"] / 1000
                archive = os.path.join(env_cache, "envs", v["detail"]["env_cache"]["key"] +
                                       "-snapshot", "venv.tar.zst")
                into = os.path.join(scratch, "tar-into")
                fresh(into)
                os.makedirs(into)
                t["tar -xf"] = timed(["tar", "-I", "zstd", "-xf", archive, "-C", into], clean_env())
                fresh(into)
                round_ratios.append(t["venv ckpt"] / t["tar -xf"])
                e = v["detail"]["env_cache"]
                restores.append((e["bytes_restored"], e["content_bytes"], e["entries"],
                                 v["duration_ms"], round(1000 * t["tar -xf"])))
            for k in WARM:
                rows[k].append(t[k])
            if t["warm inplace"] is not None and t["floor"] is not None:
                over.append(t["warm inplace"] - t["floor"])
        for d in (pod_s, pod_i, os.path.join(scratch, "floor-venv")):
            fresh(d)
        out[name] = {k: med(v) for k, v in rows.items()}
        out[name]["in place - floor"] = statistics.median(over) if len(over) == warm_runs else None
        ratios[name] = statistics.median(round_ratios) if len(round_ratios) == warm_runs else None
    return out, restores, ratios


def peak_rss_kib(proc):
    """Waits for `proc`, polling its VmHWM (peak resident set, KiB) every 10 ms; the last value
    read before it exits is its peak (VmHWM never decreases)."""
    peak = 0
    path = f"/proc/{proc.pid}/status"
    while proc.poll() is None:
        try:
            with open(path) as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.01)
    return peak


def streaming(scratch, rounds=15, mib=256):
    """taskrunner as a pod runs it (a task without dependencies; the interpreter's record on
    the env cache volume from an earlier pod, the user code as 65534) against `python | tee`."""
    code = ("import sys\nb = b'x' * 1023 + b'\\n'\nw = sys.stdout.buffer.write\n"
            f"for _ in range({mib} * 1024): w(b)\n")
    log = os.path.join(scratch, "tee.log")
    work = os.path.join(scratch, "stream")
    env = clean_env(TASKRUNNER_WORK_DIR=work, TASKRUNNER_PYTHON=sys.executable,
                    TASKRUNNER_ENV_CACHE=os.path.join(scratch, "stream-env-cache"))
    subprocess.run([TASKRUNNER, "--code", "pass"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # an earlier pod
    tee, tr, part, rss = [], [], [], []
    for _ in range(rounds):
        tee.append(timed(["bash", "-c", f'"$PY" -c "$CODE" | tee {log} > /dev/null'],
                         clean_env(PY=sys.executable, CODE=code)))
        os.unlink(log)
        fresh(work)
        t0 = time.perf_counter()
        p = subprocess.Popen([TASKRUNNER, "--code", code], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
        rss.append(peak_rss_kib(p))
        tr.append(time.perf_counter() - t0)
        assert p.returncode == 0, p.returncode
        size = os.path.getsize(os.path.join(work, "results", "taskrunner.log"))
        assert size >= mib * MIB, size
        part.append(checkpoint(work, "user_code")["duration_ms"] / 1000)
    fresh(work)
    t, r, u = statistics.median(tee), statistics.median(tr), statistics.median(part)
    return {"MiB": mib, "rounds": rounds, "tee_s": t, "taskrunner_s": r, "user_code_s": u,
            "tee_MiB_per_s": mib / t, "taskrunner_MiB_per_s": mib / r, "ratio": t / r,
            "user_code_ratio": t / u, "taskrunner_peak_rss_KiB": max(rss)}


def concurrent(server, scratch, rounds=5, n=8):
    """One cold runner against `n` concurrent cold runners of the same key (fresh env cache
    each), interleaved, twice: with the set's imports as the user code (what the pods see) and
    with `pass` (the setup alone: on 2 cores, `n` Python imports at once cost what they cost
    whatever the setup does). Also `n` concurrent imports alone, from the published venv."""
    deps, code = SETS["requests+pydantic (9 dists)"]

    def run(i, cache, results, user_code):
        work = os.path.join(scratch, f"conc-{os.path.basename(cache)}-{i}")
        t0 = time.perf_counter()
        p = subprocess.run([TASKRUNNER], env=clean_env(
            TASKRUNNER_WORK_DIR=work, TASKRUNNER_PYTHON=sys.executable,
            TASKRUNNER_INDEX_URL=server.url, PYTHON_CODE=user_code, PYTHON_DEPS=deps,
            UV_CACHE_DIR=os.path.join(scratch, "conc-uv"), TASKRUNNER_ENV_MODE="inplace",
            TASKRUNNER_ENV_CACHE=cache, TASKRUNNER_TOOLS_DIR=os.path.join(scratch, "no-tools")),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode != 0:
            FAILURES.append((f"concurrent runner {i}", p.returncode,
                             p.stderr.decode(errors="replace")[-800:]))
            results[i] = (time.perf_counter() - t0, "failed", None)
            return
        results[i] = (time.perf_counter() - t0,
                      checkpoint(work, "python_deps")["detail"]["env_cache"]["result"],
                      checkpoint(work, "venv")["detail"]["path"])

    def together(fns):
        t0 = time.perf_counter()
        threads = [threading.Thread(target=f) for f in fns]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    out = {"runners": n, "rounds": rounds}
    venv = None
    for label, user_code in (("imports", code), ("pass", "pass")):
        one_s, many_s, builds, failed = [], [], [], []
        for _ in range(rounds):
            one = [None]
            run(0, mkdtemp(dir=scratch), one, user_code)
            one_s.append(one[0][0])
            many = [None] * n
            cache = mkdtemp(dir=scratch)
            many_s.append(together([lambda i=i: run(i, cache, many, user_code)
                                    for i in range(n)]))
            builds.append(sum(1 for _, r, _ in many if r == "miss"))
            failed.append(sum(1 for _, r, _ in many if r == "failed"))
            venv = venv or many[0][2]
        one, wall = statistics.median(one_s), statistics.median(many_s)
        out[label] = {"builds_per_round": builds, "failed": sum(failed), "one_runner_s": one,
                      "all_runners_wall_s": wall, "ratio": wall / one}
    if venv:
        python = os.path.join(venv, "bin", "python")
        alone = [timed([python, "-c", code], clean_env()) for _ in range(rounds)]
        many = [together([lambda: timed([python, "-c", code], clean_env())] * n)
                for _ in range(rounds)]
        out["imports_alone"] = {"one_s": statistics.median(alone),
                                "n_concurrent_s": statistics.median(many)}
        out["imports"]["cpu_floor"] = cpu_floor(out)
    return out


def chart(data, path):
    script = r'''
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
d = json.load(open(sys.argv[1]))
locs = list(d["startup"].keys())
cols = min(2, len(locs))
rows_n = (len(locs) + cols - 1) // cols
fig, axes = plt.subplots(rows_n, cols, figsize=(8 * cols, 4.8 * rows_n), squeeze=False)
for ax, loc in zip(axes.flat, locs):
    sets = list(d["startup"][loc].keys())
    rows = [r for r in d["startup"][loc][sets[0]].keys() if r not in ("venv ckpt", "in place - floor")]
    w = 0.8 / len(rows)
    for i, r in enumerate(rows):
        ax.bar([j + i * w for j in range(len(sets))],
               [d["startup"][loc][s][r] or 0 for s in sets], w, label=r)
    ax.set_xticks([j + 0.4 - w / 2 for j in range(len(sets))])
    ax.set_xticklabels([s.replace(" (", "\n(").replace("+sympy", "\n+sympy") for s in sets],
                       fontsize=8)
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


def targets(data):
    """[(what, measured, met)] for the warm-path issue's 'Done when'."""
    out = []
    for loc, sets in data["startup"].items():
        if not loc.startswith("local disk"):
            continue
        for name, r in sets.items():
            over = None if r["in place - floor"] is None else 1000 * r["in place - floor"]
            out.append((f"{loc}, {name}: warm in place - floor ≤ 10 ms",
                        "failed" if over is None else f"{over:+.1f} ms",
                        over is not None and over <= 10))
    for loc, ratios in data["restore_ratio"].items():
        for name in RESTORE_TARGET_SETS:
            if name not in data["startup"].get(loc, {}):
                continue  # a partial run (--set) without this set
            ratio = ratios.get(name)
            out.append((f"{loc}, {name}: venv ckpt ÷ tar -xf ≤ 1.0",
                        "failed" if ratio is None else f"{ratio:.2f}",
                        ratio is not None and ratio <= 1.0))
    s = data.get("streaming")
    if s:
        out.append(("streaming: taskrunner ÷ tee throughput ≥ 1.0", f"{s['ratio']:.2f}",
                    s["ratio"] >= 1.0))
        out.append(("streaming: taskrunner peak RSS ≤ 16 MiB",
                    f"{s['taskrunner_peak_rss_KiB'] / 1024:.1f} MiB",
                    s["taskrunner_peak_rss_KiB"] <= 16 * 1024))
    c = data.get("concurrent", {})
    for label in ("imports", "pass") if c else ():
        r = c[label]
        out.append((f"8 concurrent cold runners ({label}): one build per round",
                    str(r["builds_per_round"]),
                    all(b == 1 for b in r["builds_per_round"]) and r["failed"] == 0))
        if label == "pass":
            out.append((f"8 concurrent cold runners ({label}): wall ÷ one cold runner ≤ 1.3",
                        f"{r['ratio']:.2f}", r["ratio"] <= 1.3))
    return out


def cpu_floor(c):
    """The imports row's least possible ratio here: one cold runner whose import takes as long
    as eight concurrent imports do on this machine (None without those figures)."""
    a, r = c.get("imports_alone"), c.get("imports")
    if not a or not r:
        return None
    return (r["one_runner_s"] - a["one_s"] + a["n_concurrent_s"]) / r["one_runner_s"]


def measure(args, local, installers):
    scratch = mkdtemp(prefix="bench-envcache-", dir=local)
    data = {"runs": args.runs, "warm_runs": args.warm_runs, "startup": {}, "restore": {},
            "restore_ratio": {}}
    # Every temp dir (the sshfs export, the caches, the pods' work dirs) on `local`.
    tempfile.tempdir = local
    with IndexServer(lifetime=6 * 3600) as server:  # the whole run takes longer than a test
        for uv in installers if "startup" in args.part else []:
            tag = "uv" if uv else "pip"
            places = [(f"local disk, {tag}", None)]
            if not args.no_netfs and mounts.available():
                places.append((f"sshfs, {tag}", mounts.Sshfs))
            for loc, mount in places:
                print(f"env_cache: {loc}", file=sys.stderr, flush=True)
                if mount is None:
                    base = mkdtemp(dir=scratch)
                    (data["startup"][loc], data["restore"][loc],
                     data["restore_ratio"][loc]) = startup(server, base, args.runs,
                                                           args.warm_runs, scratch, uv)
                else:
                    with mount() as base:
                        (data["startup"][loc], data["restore"][loc],
                         data["restore_ratio"][loc]) = startup(server, base, args.runs,
                                                               args.warm_runs, scratch, uv)
        if "streaming" in args.part:
            print("env_cache: streaming", file=sys.stderr, flush=True)
            data["streaming"] = streaming(scratch)
        if "concurrent" in args.part:
            print("env_cache: concurrent runners", file=sys.stderr, flush=True)
            data["concurrent"] = concurrent(server, scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    return data


def report(data, where):
    print(f"start-up, seconds: cold rows medians of {data['runs']} rounds, warm rows medians of "
          f"{data['warm_runs']} interleaved rounds, a new pod's empty work dir every run; local "
          f"disk: {where}; uv: {REAL_UV or 'none'}")
    for loc, sets in data["startup"].items():
        print(f"\ncaches on {loc}")
        print(f"{'dependency set':52}" + "".join(f"{c:>14}" for c in ROWS) +
              f"{'in place-floor':>16}")
        for name, r in sets.items():
            over = r.get("in place - floor")
            print(f"{name:52}" + "".join(
                f"{'failed':>14}" if r[c] is None else f"{r[c]:14.3f}" for c in ROWS) +
                  (f"{'—':>16}" if over is None else f"{1000 * over:+13.1f} ms"))
    print("\nrestore (warm snapshot): archive bytes, content bytes, entries, venv ckpt ms, "
          "tar -xf ms, ratio")
    for loc, rs in data["restore"].items():
        for a, c, e, ms, tar in rs:
            print(f"  {loc:16} {a:>10} {c:>11} {e:>6} {ms:>6} {tar:>6} {ms / max(tar, 1):5.2f}x")
    s = data.get("streaming")
    if s:
            print(f"\nstreaming {s['MiB']} MiB, medians of {s['rounds']}: tee {s['tee_MiB_per_s']:.0f} "
              f"MiB/s, taskrunner {s['taskrunner_MiB_per_s']:.0f} MiB/s ({s['ratio']:.2f}x of tee; "
              f"its user_code checkpoint alone {s['user_code_ratio']:.2f}x), taskrunner's peak RSS "
              f"{s['taskrunner_peak_rss_KiB'] / 1024:.1f} MiB")
    c = data.get("concurrent", {})
    for label in ("imports", "pass") if c else ():
        r = c[label]
        print(f"{c['runners']} concurrent cold runners, one key, user code {label}, medians of "
              f"{c['rounds']}: builds {r['builds_per_round']}, {r['failed']} failed, wall "
              f"{r['all_runners_wall_s']:.2f} s vs one runner {r['one_runner_s']:.2f} s "
              f"({r['ratio']:.2f}x)")
    if "imports_alone" in c:
        a = c["imports_alone"]
        print(f"  the imports alone (venv python -c): one {a['one_s']:.3f} s, {c['runners']} at "
              f"once {a['n_concurrent_s']:.3f} s on {os.cpu_count()} cores")
    print("\ntargets")
    for what, measured, met in data["targets"]:
        print(f"  {'met   ' if met else 'MISSED'} {what}: {measured}")
    floor = cpu_floor(c)
    if floor is not None:
        print(f"  info   8 concurrent cold runners (imports): wall ÷ one cold runner "
              f"{c['imports']['ratio']:.2f}, its CPU floor on {os.cpu_count()} cores {floor:.2f} "
              f"(eight interpreters importing at once)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="measured cold rounds per set")
    ap.add_argument("--warm-runs", type=int, default=15, help="measured warm rounds per set")
    ap.add_argument("--no-netfs", action="store_true")
    ap.add_argument("--installer", choices=("pip", "uv", "both"), default="both",
                    help="uv rows need a real uv (TASKRUNNER_TEST_UV, ../shared/tools/uv, PATH)")
    ap.add_argument("--local-dir", help="measure 'local disk' in this directory instead of a "
                    "journaled ext4 on a loop device")
    ap.add_argument("--part", action="append", choices=("startup", "streaming", "concurrent"),
                    help="only this part (repeatable; default: all)")
    ap.add_argument("--set", action="append", choices=list(SETS), default=[],
                    help="only this dependency set (repeatable; default: all)")
    args = ap.parse_args()
    SELECTED.extend(args.set)
    args.part = args.part or ["startup", "streaming", "concurrent"]
    installers = [None] if args.installer in ("pip", "both") else []  # None: pip
    if args.installer in ("uv", "both"):
        if REAL_UV:
            installers.append(REAL_UV)
        else:
            print("env_cache: no real uv found: uv rows left out", file=sys.stderr)
    if args.local_dir:
        data = measure(args, os.path.abspath(args.local_dir), installers)
        where = args.local_dir
    else:
        if not mounts.loop_available("ext4"):
            sys.exit("env_cache: needs root, mkfs.ext4 and /dev/loop-control for the local disk "
                     "(or --local-dir DIR)")
        with mounts.LoopFs("ext4", 16 * 1024) as local:
            os.chmod(os.path.dirname(local), 0o755)
            data = measure(args, local, installers)
        where = "journaled ext4 on a loop device (16 GiB sparse image)"
    data["local_disk"] = where
    data["targets"] = targets(data)
    data["failures"] = [{"command": c, "exit_code": rc, "stderr_tail": tail}
                        for c, rc, tail in FAILURES]
    report(data, where)
    for c, rc, tail in FAILURES:
        print(f"\nFAILED (exit {rc}): {c}\n{tail}")
    if SELECTED or len(args.part) < 3:
        # A partial run (while tuning) leaves the published figures alone.
        partial = os.path.join(ROOT, "build", "env-cache-partial.json")
        with open(partial, "w") as fh:
            json.dump(data, fh, indent=2)
        print(f"\nwrote {partial} (partial run: docs/benchmarks/ left as it was)")
        return
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "env-cache.json"), "w") as fh:
        json.dump(data, fh, indent=2)
    png = os.path.join(OUT_DIR, "env-cache.png")
    print(f"\nwrote {OUT_DIR}/env-cache.json" + (f" and {png}" if chart(data, png) else
                                                 " (no chart: /usr/bin/python3 lacks matplotlib)"))


if __name__ == "__main__":
    main()
