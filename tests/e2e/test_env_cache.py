"""The environment cache, end to end: real installs from the loopback index, real snapshots and
in-place venvs under TASKRUNNER_ENV_CACHE, concurrent runners, tampering, prune and warm."""
import fcntl
import glob
import importlib.util
import json
import os
import struct
import signal
import subprocess
import time
import unittest

from harness import NO_REAL_UV, REAL_UV, TASKRUNNER, IndexServer, TaskrunnerTest, in_parallel

CODE = "import sys, six; print(six.__name__, sys.prefix)"
BYTECODE_DEPS = "six PyYAML requests"
BYTECODE_CODE = "import six, yaml, requests, idna, urllib3"


def bytecode(venv):
    """{source: (pyc mtime in s, None or why the pyc is not valid, PEP 552 flags: 0 timestamp,
    1 unchecked hash, 3 checked hash)} for every .py of the venv's
    site-packages. Valid as CPython's import checks it (PEP 552): a timestamp pyc records the
    source's mtime and size; a hash-based one is valid unchecked, or when it is checked anyway."""
    out = {}
    for src in glob.glob(os.path.join(venv, "lib", "python3*", "site-packages", "**", "*.py"),
                         recursive=True):
        pyc = importlib.util.cache_from_source(src)
        if not os.path.exists(pyc):
            out[src] = (None, "no pyc", None)
            continue
        with open(pyc, "rb") as fh:
            head = fh.read(16)
        flags, stamp, size = struct.unpack("<III", head[4:16])
        st = os.stat(src)
        why = None
        if head[:4] != importlib.util.MAGIC_NUMBER:
            why = "another interpreter's magic number"
        elif flags == 0 and (stamp, size) != (int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF):
            why = "source mtime or size differs from the pyc's"
        out[src] = (int(os.stat(pyc).st_mtime), why, flags)
    return out


class EnvCacheBase(TaskrunnerTest):
    def setUp(self):
        super().setUp()
        self.env_cache = os.path.join(self.work, "env-cache")

    def cenv(self, mode, **extra):
        return self.env(TASKRUNNER_ENV_MODE=mode, TASKRUNNER_ENV_CACHE=self.env_cache,
                        PYTHON_DEPS=extra.pop("PYTHON_DEPS", "six"), **extra)

    def cache_info(self, res, cid="python_deps"):
        return res.record(cid)["detail"]["env_cache"]

    def check_bytecode_survives_the_hit(self, mode):
        """Bytecode is compiled before publishing, valid for the venv a hit serves, and not
        rewritten when the hit's code imports the packages."""
        env = self.cenv(mode, PYTHON_DEPS=BYTECODE_DEPS)
        cold = self.run_tr(["--code", BYTECODE_CODE + "; import sys; print(sys.prefix)"], env=env)
        self.assertEqual(cold.code, 0, cold.stderr.decode()[-2000:])
        venv = cold.stdout.decode().split()[-1]
        published = bytecode(venv)
        self.assertGreater(len(published), 100)
        self.assertEqual({s: w for s, (_, w, _) in published.items() if w}, {})
        # Compiled once, unchecked hash-based: valid whatever the restored sources' mtimes are.
        self.assertEqual({s: f for s, (_, _, f) in published.items() if f != 1}, {})
        time.sleep(1.1)  # a pyc written by the warm run would carry a later second
        warm = self.run_tr(["--code", BYTECODE_CODE + "; import sys; print(sys.prefix)"], env=env)
        self.assertEqual(warm.code, 0, warm.stderr.decode()[-2000:])
        self.assertEqual(self.cache_info(warm)["result"], "hit")
        self.assertEqual(warm.stdout.decode().split()[-1], venv)
        self.assertEqual(bytecode(venv), published)

    def entries(self):
        out = subprocess.run([TASKRUNNER, "cache", "status", "--json"],
                             env=self.env(TASKRUNNER_ENV_CACHE=self.env_cache),
                             stdout=subprocess.PIPE, check=True)
        return json.loads(out.stdout)["entries"]


class Snapshot(EnvCacheBase):
    def test_bytecode_survives_the_hit(self):
        self.check_bytecode_survives_the_hit("snapshot")

    def test_miss_then_hit_without_the_index(self):
        with IndexServer() as index:
            env = self.cenv("snapshot", TASKRUNNER_INDEX_URL=index.url)
            cold = self.run_tr(["--code", CODE], env=env)
        self.assertEqual(cold.code, 0, cold.stderr.decode()[-2000:])
        info = self.cache_info(cold)
        self.assertEqual(info["result"], "miss")
        self.assertGreater(info["bytes"], 0)
        entry = os.path.join(self.env_cache, "envs", info["key"] + "-snapshot")
        with open(os.path.join(entry, "manifest.json")) as fh:
            manifest = json.load(fh)
        self.assertEqual(manifest["archive"]["bytes"], os.path.getsize(os.path.join(entry, "venv.tar.zst")))
        self.assertEqual(manifest["venv_path"], os.path.join(self.work, "venv"))
        # The index is gone now: a hit must not need it (network is skipped).
        warm = self.run_tr(["--code", CODE], env=env)
        self.assertEqual(warm.code, 0, warm.stderr.decode()[-2000:])
        self.assertEqual(warm.stdout.decode().split(), ["six", os.path.join(self.work, "venv")])
        venv = warm.record("venv")["detail"]["env_cache"]
        self.assertEqual(venv["result"], "hit")
        self.assertEqual(venv["bytes_restored"], manifest["archive"]["bytes"])
        self.assertIn("restore_ms", venv)
        self.assertEqual(warm.record("network")["status"], "skipped")
        self.assertIn("environment cache hit", warm.record("network")["detail"]["reason"])
        self.assertEqual(self.cache_info(warm)["result"], "hit")
        self.assertEqual(self.entries()[0]["hits"], 1)

    def test_tampered_or_truncated_snapshots_are_rejected_and_rebuilt(self):
        env = self.cenv("snapshot")
        first = self.run_tr(["--code", CODE], env=env)
        self.assertEqual(first.code, 0)
        key = self.cache_info(first)["key"]
        archive = os.path.join(self.env_cache, "envs", key + "-snapshot", "venv.tar.zst")
        for damage in ("flip", "truncate"):
            with open(archive, "r+b") as fh:
                if damage == "flip":
                    fh.seek(os.path.getsize(archive) // 2)
                    b = fh.read(1)
                    fh.seek(-1, 1)
                    fh.write(bytes([b[0] ^ 0xFF]))
                else:
                    fh.truncate(os.path.getsize(archive) // 3)
            res = self.run_tr(["--code", CODE], env=env)
            self.assertEqual(res.code, 0, res.stderr.decode()[-2000:])
            self.assertEqual(self.cache_info(res)["result"], "rebuilt", damage)
            self.assertIn(b"rejected", res.stderr)
            self.assertIn(b"six", res.stdout)
            # A whole, valid entry replaced it.
            again = self.run_tr(["--code", CODE], env=env)
            self.assertEqual(self.cache_info(again)["result"], "hit", damage)

    def test_key_follows_the_requirements(self):
        # (checkpoints.json is rewritten by each run in the same work dir: read it at once.)
        a = self.cache_info(self.run_tr(["--code", CODE], env=self.cenv("snapshot", PYTHON_DEPS="six")))
        b = self.cache_info(self.run_tr(["--code", CODE],
                                        env=self.cenv("snapshot", PYTHON_DEPS="  six , ")))
        c = self.cache_info(self.run_tr(["--code", CODE],
                                        env=self.cenv("snapshot", PYTHON_DEPS="six idna")))
        self.assertEqual(a["result"], "miss")
        self.assertEqual(b["key"], a["key"])
        self.assertEqual(b["result"], "hit")
        self.assertNotEqual(c["key"], a["key"])
        self.assertEqual(c["result"], "miss")


class InPlace(EnvCacheBase):
    def test_bytecode_survives_the_hit(self):
        self.check_bytecode_survives_the_hit("inplace")

    def test_hit_uses_the_published_venv_read_only(self):
        env = self.cenv("inplace")
        cold = self.run_tr(["--code", CODE], env=env)
        self.assertEqual(cold.code, 0, cold.stderr.decode()[-2000:])
        venv = cold.stdout.decode().split()[1]
        self.assertTrue(venv.startswith(os.path.join(self.env_cache, "venvs")))
        listing = sorted(os.path.join(d, f) for d, _, fs in os.walk(venv) for f in fs)
        self.assertTrue(any(f.endswith(".pyc") for f in listing))  # compiled before publishing
        code = ("import os, sys, six, json; print(sys.prefix); "
                "print(os.environ.get('PYTHONDONTWRITEBYTECODE'))")
        warm = self.run_tr(["--code", code], env=env)
        self.assertEqual(warm.code, 0)
        self.assertEqual(warm.stdout.decode().split(), [venv, "1"])
        self.assertEqual(self.cache_info(warm)["result"], "hit")
        self.assertEqual(sorted(os.path.join(d, f) for d, _, fs in os.walk(venv) for f in fs), listing)

    def test_exec_mode_keeps_the_use_lock_across_the_hand_over(self):
        """In exec mode Python replaces taskrunner: the entry's shared use lock must stay held
        while the code runs (the log shipper forked before exec shares its open file), or a
        prune could take the venv away from the running code."""
        env = self.cenv("inplace")
        cold = self.run_tr(["--code", CODE], env=env)
        self.assertEqual(cold.code, 0, cold.stderr.decode()[-2000:])
        key = self.cache_info(cold)["key"]
        use = os.path.join(self.env_cache, "locks", f"{key}-inplace.use")
        proc = subprocess.Popen([TASKRUNNER, "--code", "import time; print('up', flush=True); time.sleep(60)"],
                                env=dict(env, TASKRUNNER_EXEC="1"), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            self.assertEqual(proc.stdout.readline().strip(), b"up")
            with open(use, "rb") as fh:
                with self.assertRaises(BlockingIOError):
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            prune = subprocess.run([TASKRUNNER, "cache", "prune", "--max-bytes", "0"], env=env,
                                   capture_output=True, text=True, timeout=60)
            self.assertEqual(prune.returncode, 0, prune.stderr)
            self.assertIn("in use", prune.stdout + prune.stderr)
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()

    def test_concurrent_runners_build_once(self):
        env = self.cenv("inplace", PYTHON_DEPS="requests")
        def one(i):
            work = os.path.join(self.work, f"w{i}")
            p = subprocess.run([TASKRUNNER, "--code", "import requests; print(requests.__name__)"],
                               env=dict(env, TASKRUNNER_WORK_DIR=work), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=600)
            with open(os.path.join(work, "results", "checkpoints.json")) as fh:
                doc = json.load(fh)
            return p, {c["id"]: c for c in doc["checkpoints"]}

        outcomes = []
        for p, recs in in_parallel(3, one):
            self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
            self.assertEqual(p.stdout.strip(), b"requests")
            outcomes.append(recs["python_deps"]["detail"]["env_cache"]["result"])
        self.assertEqual(sorted(outcomes), ["hit", "hit", "miss"])
        self.assertEqual(len(self.entries()), 1)
        self.assertEqual(len(os.listdir(os.path.join(self.env_cache, "venvs"))), 1)


class Tooling(EnvCacheBase):
    def test_warm_then_run_hits(self):
        env = self.cenv("snapshot")
        env.pop("PYTHON_CODE", None)
        warm = subprocess.run([TASKRUNNER, "cache", "warm"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=600)
        self.assertEqual(warm.returncode, 0, warm.stderr.decode()[-2000:])
        self.assertEqual(warm.stdout, b"")
        res = self.run_tr(["--code", CODE], env=env)
        self.assertEqual(self.cache_info(res)["result"], "hit")

    def test_killed_builder_leaves_only_what_prune_removes(self):
        with IndexServer(stall=60) as stalled:
            env = self.cenv("inplace", TASKRUNNER_INDEX_URL=stalled.url)
            p = subprocess.Popen([TASKRUNNER, "--code", CODE], env=env, start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            venvs = os.path.join(self.env_cache, "venvs")
            for _ in range(200):
                if os.path.isdir(venvs) and os.listdir(venvs):
                    break
                time.sleep(0.05)
            time.sleep(0.5)
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        self.assertEqual(len(os.listdir(venvs)), 1)  # the half-built venv
        self.assertEqual(self.entries(), [])        # never served
        out = subprocess.run([TASKRUNNER, "cache", "prune"], env=env, stdout=subprocess.PIPE,
                             check=True).stdout.decode()
        self.assertIn("removed", out)
        self.assertEqual(os.listdir(venvs), [])

    def test_prune_is_lru_and_never_removes_an_entry_in_use(self):
        env_a = self.cenv("inplace", PYTHON_DEPS="six")
        env_b = self.cenv("inplace", PYTHON_DEPS="idna")
        self.assertEqual(self.run_tr(["--code", "pass"], env=env_a).code, 0)
        self.assertEqual(self.run_tr(["--code", "pass"], env=env_b).code, 0)
        # a is now in use by a running task.
        flag = os.path.join(self.work, "running")
        user = subprocess.Popen([TASKRUNNER, "--code",
                                 f"import time; open({flag!r}, 'w').close(); time.sleep(4)"],
                                env=dict(env_a, TASKRUNNER_WORK_DIR=os.path.join(self.work, "u")),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(flag):
                break
            time.sleep(0.05)
        out = subprocess.run([TASKRUNNER, "cache", "prune", "--max-bytes", "0"], env=env_a,
                             stdout=subprocess.PIPE, check=True).stdout.decode()
        user.wait()
        self.assertEqual(user.returncode, 0)
        self.assertIn("kept (in use)", out)
        left = self.entries()
        self.assertEqual(len(left), 1)
        res = self.run_tr(["--code", "import six"], env=env_a)
        self.assertEqual(self.cache_info(res)["result"], "hit")  # a survived; b was removed
        subprocess.run([TASKRUNNER, "cache", "prune", "--max-bytes", "0"], env=env_a, check=True,
                       stdout=subprocess.DEVNULL)
        self.assertEqual(self.entries(), [])

    def test_status_text_and_bad_usage(self):
        res = subprocess.run([TASKRUNNER, "cache", "status"],
                             env=self.env(TASKRUNNER_ENV_CACHE=self.env_cache),
                             stdout=subprocess.PIPE, check=True)
        self.assertIn(b"0 entries", res.stdout)
        bad = subprocess.run([TASKRUNNER, "cache", "explode"], env=self.env(),
                             stderr=subprocess.PIPE)
        self.assertEqual(bad.returncode, 2)
        inside = subprocess.run([TASKRUNNER, "cache", "status"],
                                env=self.env(TASKRUNNER_ENV_CACHE=os.path.join(self.cache, "x")),
                                stderr=subprocess.PIPE)
        self.assertEqual(inside.returncode, 2)
        self.assertIn(b"TASKRUNNER_ENV_CACHE", inside.stderr)


@unittest.skipUnless(REAL_UV, NO_REAL_UV)
class SnapshotRealUv(Snapshot):
    """Snapshots of venvs that the real uv made (uv's own venv layout and RECORDs)."""
    uv = REAL_UV


@unittest.skipUnless(REAL_UV, NO_REAL_UV)
class InPlaceRealUv(InPlace):
    """In-place entries built by the real uv, three runners at once on one uv cache."""
    uv = REAL_UV


if __name__ == "__main__":
    unittest.main()
