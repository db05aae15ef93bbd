#!/usr/bin/env python3
"""Chaos campaign (docs/reliability.md): random trials against one shared environment cache,
each followed by a rerun that must succeed and must not be served a half-written entry.

    /usr/bin/python3 tests/chaos/chaos.py --trials 200 [--seed N] [--kinds kill_cold,enospc]

Trial kinds (picked at random, each with a random key from a few dependency sets and a random
mode, snapshot or inplace):
  kill_cold     SIGKILL to the pod (its whole process group) at a random point of a cold run:
                install, bytecode, publish
  kill_warm     SIGKILL at a random point of a hit: snapshot restore, or in place
  kill_prune    SIGKILL to `cache prune --max-bytes 0` at a random point
  kill_nix      SIGKILL at a random point of a cold Nix build of a system dependency (real
                nix-build on the fixture nixpkgs; skipped without nix-build)
  prune_loop    prune looping while runners of many keys hit and publish
  enospc        a small tmpfs cache volume that a filler fills at a random point of a cold run
  read_only     the tmpfs cache volume remounted read-only at a random point of a cold run

After each trial: a rerun of the trial's key (on the normal volume, or the same tmpfs made
writable again and emptied of the filler) must exit 0 and print what its packages say, and every
published entry on the volume must be whole (snapshot: archive size and sha256 as the manifest
says; in place: the venv the manifest names exists). Prints trials / failures / broken entries
served, per kind; exits 1 when any trial failed or any broken entry was served.

Root only (mounts); the loopback index of the e2e tests (build/test-index, made by
tests/fixtures/build_index.py); Debian's /usr/bin/python3 as the tasks' interpreter."""
import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import TASKRUNNER, TESTS, IndexServer, clean_env  # noqa: E402

PYTHON = "/usr/bin/python3"
# (PYTHON_DEPS, code that proves the packages import and work)
SETS = [
    ("six", "import six; print('ok', six.__version__)"),
    ("idna", "import idna; print('ok', idna.encode('b\u00fccher.example').decode())"),
    ("six idna", "import six, idna; print('ok', six.__version__, idna.__version__)"),
    ("attrs", "import attr; print('ok', attr.__version__)"),
    ("requests", "import requests; print('ok', requests.__version__)"),
    ("pyyaml", "import yaml; print('ok', yaml.safe_load('a: 1'))"),
]
NIX_FIXTURE = os.path.join(TESTS, "fixtures", "nixpkgs")
NIX_CONFIG = "\n".join(["sandbox = false", "substituters =", "build-users-group =",
                        "experimental-features = nix-command"])
KINDS = ["kill_cold", "kill_warm", "kill_prune", "kill_nix", "prune_loop", "enospc", "read_only"]


class Campaign:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.tmp = tempfile.mkdtemp(prefix="taskrunner-chaos-")
        self.cache = os.path.join(self.tmp, "env-cache")  # the shared volume of most trials
        self.small = os.path.join(self.tmp, "small-volume")  # a tmpfs for enospc / read_only
        os.makedirs(self.small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", self.small], check=True)
        self.server = IndexServer(lifetime=24 * 3600).__enter__()
        self.n = 0
        self.results = {k: Counter() for k in KINDS}
        self.failures = []
        self.verbose = args.verbose

    def close(self):
        self.server.__exit__(None, None, None)
        subprocess.run(["umount", "-l", self.small], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- running pods ------------------------------------------------------------------------

    def env(self, deps, code, cache, mode, **extra):
        self.n += 1
        work = os.path.join(self.tmp, "pods", f"pod{self.n}")
        os.makedirs(work)
        env = clean_env(TASKRUNNER_WORK_DIR=work, TASKRUNNER_ENV_CACHE=cache,
                        TASKRUNNER_ENV_MODE=mode, TASKRUNNER_INDEX_URL=self.server.url,
                        TASKRUNNER_PYTHON=PYTHON, TASKRUNNER_RUN_AS="off",
                        TASKRUNNER_TOOLS_DIR=os.path.join(self.tmp, "no-tools"),
                        UV_CACHE_DIR=os.path.join(work, "uv-cache"),
                        PYTHON_DEPS=deps, PYTHON_CODE=code)
        env.update(extra)
        return env

    def start(self, env, args=()):
        # A session of its own: SIGKILL to the group is a pod's containers being killed.
        return subprocess.Popen([TASKRUNNER, *args], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)

    def kill_after(self, proc, seconds):
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()

    def run(self, env, args=(), timeout=600):
        proc = self.start(env, args)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        return proc.returncode, out, err, env["TASKRUNNER_WORK_DIR"]

    def env_cache_result(self, work):
        try:
            with open(os.path.join(work, "results", "checkpoints.json")) as fh:
                doc = json.load(fh)
            venv = [c for c in doc["checkpoints"] if c["id"] == "venv"][0]
            return venv["detail"].get("env_cache", {}).get("result")
        except (OSError, ValueError, IndexError, KeyError):
            return None

    # --- checks ------------------------------------------------------------------------------

    def entries_whole(self, cache):
        """Problems with published entries under `cache` (empty when all are whole)."""
        problems = []
        envs = os.path.join(cache, "envs")
        if not os.path.isdir(envs):
            return problems
        for name in os.listdir(envs):
            manifest = os.path.join(envs, name, "manifest.json")
            if name.startswith(".") or not os.path.exists(manifest):
                continue
            try:
                with open(manifest) as fh:
                    m = json.load(fh)
            except (OSError, ValueError) as e:
                problems.append(f"{name}: manifest unreadable: {e}")
                continue
            if m.get("mode") == "snapshot":
                try:
                    with open(os.path.join(envs, name, "venv.tar.zst"), "rb") as fh:
                        data = fh.read()
                except OSError as e:
                    problems.append(f"{name}: archive missing: {e}")
                    continue
                if len(data) != m["archive"]["bytes"] or \
                        hashlib.sha256(data).hexdigest() != m["archive"]["sha256"]:
                    problems.append(f"{name}: archive does not match its manifest")
            elif not os.path.isfile(os.path.join(m.get("venv_path", "/nonexistent"), "pyvenv.cfg")):
                problems.append(f"{name}: in-place venv {m.get('venv_path')} is gone")
        return problems

    def rerun_ok(self, kind, deps, code, cache, mode, **extra):
        """The rerun after a trial: exit 0 and the packages' own output; a hit that fails is a
        broken entry served."""
        rc, out, err, work = self.run(self.env(deps, code, cache, mode, **extra))
        result = self.env_cache_result(work)
        if rc != 0 or not out.startswith(b"ok"):
            self.results[kind]["failures"] += 1
            if result == "hit":
                self.results[kind]["broken_served"] += 1
            self.failures.append(f"{kind}: rerun of '{deps}' ({mode}) exited {rc}, cache {result}: "
                                 f"{err.decode(errors='replace')[-1500:]}")
            return False
        self.results[kind][f"rerun_{result or 'uncached'}"] += 1
        for problem in self.entries_whole(cache):
            self.results[kind]["broken_entries"] += 1
            self.failures.append(f"{kind}: {problem}")
        return True

    # --- trials ------------------------------------------------------------------------------

    def pick(self):
        deps, code = self.rng.choice(SETS)
        return deps, code, self.rng.choice(["snapshot", "inplace"])

    def kill_cold(self):
        deps, code, mode = self.pick()
        # A fresh key: a salt in the code would not change the key, a unique extra requirement
        # would hit the index; a per-trial cache root keeps the run cold instead.
        cache = os.path.join(self.tmp, f"cold-{self.n}")
        proc = self.start(self.env(deps, code, cache, mode))
        self.kill_after(proc, self.rng.uniform(0.05, 4.0))
        self.rerun_ok("kill_cold", deps, code, cache, mode)
        shutil.rmtree(cache, ignore_errors=True)

    def kill_warm(self):
        deps, code, mode = self.pick()
        rc, *_ = self.run(self.env(deps, code, self.cache, mode))  # make sure it is published
        proc = self.start(self.env(deps, code, self.cache, mode))
        self.kill_after(proc, self.rng.uniform(0.0, 0.6))
        self.rerun_ok("kill_warm", deps, code, self.cache, mode)

    def kill_prune(self):
        deps, code, mode = self.pick()
        self.run(self.env(deps, code, self.cache, mode))
        proc = self.start(self.env(deps, code, self.cache, mode), ["cache", "prune", "--max-bytes", "0"])
        self.kill_after(proc, self.rng.uniform(0.0, 0.3))
        self.rerun_ok("kill_prune", deps, code, self.cache, mode)

    def kill_nix(self):
        if shutil.which("nix-build") is None:
            self.results["kill_nix"]["skipped"] += 1
            return
        salt = f"chaos{self.n}-{self.rng.getrandbits(32):08x}"
        extra = dict(NIX_CONFIG=NIX_CONFIG, TASKRUNNER_NIXPKGS=NIX_FIXTURE,
                     TASKRUNNER_NIX_ROOTS=os.path.join(self.tmp, "gcroots"),
                     TASKRUNNER_FIXTURE_SALT=salt, SYSTEM_DEPS="shout")
        code = "import subprocess; print('ok', subprocess.run(['shout'], capture_output=True, text=True, check=True).stdout.strip())"
        proc = self.start(self.env("", code, self.cache, "off", **extra))
        self.kill_after(proc, self.rng.uniform(0.05, 3.0))
        self.rerun_ok("kill_nix", "", code, self.cache, "off", **extra)

    def prune_loop(self):
        stop = threading.Event()
        prunes = []

        def loop():
            while not stop.is_set():
                rc, *_ = self.run(self.env("six", "pass", self.cache, "snapshot"),
                                  ["cache", "prune", "--max-bytes", str(self.rng.choice([0, 4 << 20]))])
                prunes.append(rc)

        t = threading.Thread(target=loop)
        t.start()
        outcomes = []
        picks = [self.pick() for _ in range(4)]

        def one(p):
            deps, code, mode = p
            rc, out, err, work = self.run(self.env(deps, code, self.cache, mode))
            outcomes.append((rc, out, err, p))

        threads = [threading.Thread(target=one, args=(p,)) for p in picks]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        stop.set()
        t.join()
        for rc, out, err, (deps, _, mode) in outcomes:
            if rc != 0 or not out.startswith(b"ok"):
                self.results["prune_loop"]["failures"] += 1
                self.failures.append(f"prune_loop: '{deps}' ({mode}) exited {rc} beside prune: "
                                     f"{err.decode(errors='replace')[-1500:]}")
        if any(rc != 0 for rc in prunes):
            self.results["prune_loop"]["failures"] += 1
            self.failures.append(f"prune_loop: prune exit codes {prunes}")
        deps, code, mode = picks[0]
        self.rerun_ok("prune_loop", deps, code, self.cache, mode)

    def small_volume_trial(self, kind):
        deps, code, mode = self.pick()
        subprocess.run(["mount", "-o", "remount,rw", self.small], check=True)
        for name in os.listdir(self.small):
            shutil.rmtree(os.path.join(self.small, name), ignore_errors=True)
        cache = os.path.join(self.small, "env-cache")
        proc = self.start(self.env(deps, code, cache, mode))
        time.sleep(self.rng.uniform(0.0, 3.0))
        if kind == "enospc":
            try:  # the run may have filled the volume already: then even the open fails
                with open(os.path.join(self.small, "filler"), "wb") as fh:
                    while True:
                        fh.write(b"\0" * (1 << 20))
            except OSError:
                pass
        else:
            # The kernel refuses (EBUSY) while a file is open for writing: retry as the writers
            # come and go, as long as the run lasts.
            while subprocess.run(["mount", "-o", "remount,ro", self.small],
                                 capture_output=True).returncode != 0:
                if proc.poll() is not None:
                    self.results[kind]["ro_after_run"] += 1
                    break
                time.sleep(0.01)
        out, err = proc.communicate(timeout=600)
        # A full or read-only cache volume never fails the run: it goes on uncached.
        if proc.returncode != 0 or not out.startswith(b"ok"):
            self.results[kind]["failures"] += 1
            self.failures.append(f"{kind}: '{deps}' ({mode}) exited {proc.returncode}: "
                                 f"{err.decode(errors='replace')[-1500:]}")
        if kind == "read_only":
            subprocess.run(["mount", "-o", "remount,rw", self.small], check=True)
        for problem in self.entries_whole(cache):
            self.results[kind]["broken_entries"] += 1
            self.failures.append(f"{kind}: {problem}")
        if os.path.exists(os.path.join(self.small, "filler")):
            os.remove(os.path.join(self.small, "filler"))
        self.rerun_ok(kind, deps, code, cache, mode)

    def trial(self, kind):
        self.results[kind]["trials"] += 1
        if kind in ("enospc", "read_only"):
            self.small_volume_trial(kind)
        else:
            getattr(self, kind)()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seed", type=int, default=None, help="random seed (printed; default: time)")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated trial kinds")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("chaos: run as root (tmpfs mounts)")
    if args.seed is None:
        args.seed = int(time.time())
    kinds = args.kinds.split(",")
    for k in kinds:
        if k not in KINDS:
            sys.exit(f"chaos: unknown kind {k} (kinds: {', '.join(KINDS)})")
    campaign = Campaign(args)
    t0 = time.monotonic()
    print(f"chaos: {args.trials} trials, seed {args.seed}, kinds {','.join(kinds)}", flush=True)
    try:
        for i in range(args.trials):
            kind = kinds[i % len(kinds)] if i < len(kinds) else campaign.rng.choice(kinds)
            campaign.trial(kind)
            if args.verbose:
                print(f"  trial {i + 1}: {kind} {dict(campaign.results[kind])}", flush=True)
    finally:
        campaign.close()
    total = Counter()
    print(f"{'kind':<12} {'trials':>6} {'failures':>8} {'broken served':>13} {'broken entries':>14}  reruns")
    for k in KINDS:
        c = campaign.results[k]
        if not c["trials"]:
            continue
        total.update(c)
        reruns = ", ".join(f"{key[6:]} {v}" for key, v in sorted(c.items()) if key.startswith("rerun_"))
        if c["ro_after_run"]:
            reruns += f"  (read-only only after the run: {c['ro_after_run']})"
        print(f"{k:<12} {c['trials']:>6} {c['failures']:>8} {c['broken_served']:>13} "
              f"{c['broken_entries']:>14}  {reruns}{'  (skipped: no nix-build)' if c['skipped'] else ''}")
    print(f"chaos: {total['trials']} trials, {total['failures']} failures, "
          f"{total['broken_served']} broken entries served, {total['broken_entries']} broken "
          f"entries on the volume, {time.monotonic() - t0:.0f} s, seed {args.seed}")
    for f in campaign.failures[:20]:
        print("FAILURE:", f)
    sys.exit(1 if total["failures"] or total["broken_served"] or total["broken_entries"] else 0)


if __name__ == "__main__":
    main()
