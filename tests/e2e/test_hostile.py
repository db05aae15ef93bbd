"""The cache volume and every input are hostile (issue "ten failures found from outside"): one
regression test per failure, numbered as the issue numbers them. Each failed against the binary
before its fix (run with TASKRUNNER_BIN pointing at an older build to see it)."""
import errno
import fcntl
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import zipfile

from harness import TASKRUNNER, TaskrunnerTest

KEY = "ab" * 32  # a well-formed key no real request hashes to


class Hostile(TaskrunnerTest):
    def setUp(self):
        super().setUp()
        self.env_cache = os.path.join(self.work, "env-cache")

    def cenv(self, mode="inplace", **extra):
        return self.env(TASKRUNNER_ENV_MODE=mode, TASKRUNNER_ENV_CACHE=self.env_cache, **extra)

    def cache_cmd(self, *args):
        return subprocess.run([TASKRUNNER, "cache", *args], env=self.cenv(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=120)

    def status(self):
        return json.loads(self.cache_cmd("status", "--json").stdout)["entries"]

    def cold(self, deps="six", mode="inplace", **extra):
        res = self.run_tr(env=self.cenv(mode, PYTHON_DEPS=deps, PYTHON_CODE="import six", **extra))
        self.assertEqual(res.code, 0, res.stderr[-2000:])
        return res

    def status_of(self, env_cache):
        out = subprocess.run([TASKRUNNER, "cache", "status", "--json"],
                             env=self.env(TASKRUNNER_ENV_CACHE=env_cache), stdout=subprocess.PIPE,
                             check=True)
        return json.loads(out.stdout)["entries"]

    def spec_event(self, res):
        """The `spec` checkpoint's terminal event (a spec failure writes no checkpoints.json)."""
        return next(e for e in res.events if e["id"] == "spec" and e["status"] != "running")

    def plant(self, name, manifest):
        d = os.path.join(self.env_cache, "envs", name)
        os.makedirs(d)
        with open(os.path.join(d, "manifest.json"), "w") as fh:
            json.dump(manifest, fh)
        return d

    def test_01_prune_never_deletes_what_a_manifest_names_outside_the_cache(self):
        self.cold()
        victim = tempfile.mkdtemp(prefix="victim-", dir=self.work)
        with open(os.path.join(victim, "precious"), "w") as fh:
            fh.write("x")
        self.plant(KEY + "-inplace", {"format": 1, "key": KEY, "mode": "inplace",
                                      "venv_path": victim, "venv_bytes": 10 ** 12})
        p = self.cache_cmd("prune", "--max-bytes", str(10 ** 9))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(os.path.join(victim, "precious")), p.stdout)
        # The fake 10^12 bytes evict nothing real: the genuine entry is still there.
        self.assertEqual([e["key"] for e in self.status()], [self.status()[0]["key"]])
        self.assertNotEqual(self.status()[0]["key"], KEY)

    def test_02_concurrent_prune_never_removes_a_venv_in_use(self):
        stop = threading.Event()
        prunes = []

        def prune_loop():
            while not stop.is_set():
                prunes.append(self.cache_cmd("prune", "--max-bytes", "0").returncode)

        keys = ["six", "PyYAML", "six PyYAML"]
        code = "import time, importlib\nfor m in ('six', 'yaml'):\n    time.sleep(0.3)\n" \
               "    try: importlib.import_module(m)\n    except ModuleNotFoundError: pass\n" \
               "import sys; sys.exit(0 if sys.prefix else 1)"
        failures = []

        def runner(i):
            work = os.path.join(self.work, f"r{i}")
            p = subprocess.run([TASKRUNNER], env=self.cenv(
                TASKRUNNER_WORK_DIR=work, TASKRUNNER_RESULTS_DIR=os.path.join(work, "results"),
                PYTHON_DEPS=keys[i % 3], PYTHON_CODE=code), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, timeout=300)
            if p.returncode != 0:
                failures.append((i, p.returncode, p.stderr.decode(errors="replace")[-1500:]))

        t = threading.Thread(target=prune_loop)
        t.start()
        try:
            for batch in range(4):
                threads = [threading.Thread(target=runner, args=(batch * 3 + j,)) for j in range(3)]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
        finally:
            stop.set()
            t.join()
        self.assertGreater(len(prunes), 3)
        self.assertEqual(failures, [])

    def test_03_deeply_nested_marker_is_a_usage_error(self):
        deps = "six;" + "(" * 35000
        res = self.run_tr(env=self.env(PYTHON_DEPS=deps, PYTHON_CODE="pass"))
        self.assertEqual(res.code, 2, res.stderr[-1000:])
        self.assertEqual(self.spec_event(res)["detail"]["field"], "PYTHON_DEPS")
        self.assertFalse(os.path.exists(os.path.join(self.work, "venv")))
        doctor = subprocess.run([TASKRUNNER, "doctor"], env=self.env(PYTHON_DEPS=deps),
                                capture_output=True, timeout=60)
        self.assertNotEqual(doctor.returncode, -signal.SIGSEGV)
        self.assertIn(b"nested deeper", doctor.stdout + doctor.stderr)

    def test_04_closed_stdout_and_stderr_neither_spin_nor_lose_output(self):
        """Started with fd 1 and 2 closed, the old build handed them to its own eventfd: output
        written in 8-byte pieces (one os.write per line) then looped on EAGAIN at 100 % CPU,
        deaf to SIGTERM and TASKRUNNER_CODE_TIMEOUT (641 s until SIGKILL). Now 0-2 are reopened
        on /dev/null first and every byte still reaches taskrunner.log."""
        code = ("import os, sys\nfor i in range(20000): os.write(1, b'%07d\\n' % i)\n"
                "print('done', file=sys.stderr)")
        env = self.env(PYTHON_CODE=code, TASKRUNNER_CODE_TIMEOUT="30")
        for redirect in ('>&- 2>&-', '>&-'):
            t0 = time.monotonic()
            p = subprocess.run(["bash", "-c", f'exec "$0" {redirect}', TASKRUNNER], env=env,
                               stderr=subprocess.DEVNULL, timeout=60)
            self.assertEqual(p.returncode, 0, redirect)
            self.assertLess(time.monotonic() - t0, 30, redirect)
            with open(os.path.join(self.work, "results", "taskrunner.log"), "rb") as fh:
                log = fh.read()
            self.assertIn(b"\n0019999\n", log, redirect)
            self.assertIn(b"done\n", log, redirect)

    def test_05_a_full_cache_volume_goes_on_uncached_and_leaves_nothing_half_written(self):
        """Env cache and uv cache on a 4 MiB tmpfs, in place: the install runs out of room on the
        volume (it used to fail with a bare exit 125 and leave the half-built venv); now the run
        goes on uncached in the work dir with a warn naming ENOSPC and publishes nothing. In
        snapshot mode the archive that does not fit leaves no temp file behind."""
        volume = os.path.join(self.work, "small")
        os.makedirs(volume)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", volume], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", volume], check=False)
        cache = os.path.join(volume, "env")
        code = "import requests, pydantic, jsonschema, yaml, jinja2, sys; print(sys.prefix)"
        env = self.env(TASKRUNNER_ENV_MODE="inplace", TASKRUNNER_ENV_CACHE=cache,
                       UV_CACHE_DIR=os.path.join(volume, "uv"), TASKRUNNER_MIN_FREE_MB="0",
                       PYTHON_DEPS="requests pydantic jsonschema PyYAML Jinja2", PYTHON_CODE=code)
        res = self.run_tr(env=env)
        self.assertEqual(res.code, 0, res.stderr[-3000:])
        self.assertIn(b"ENOSPC", res.stderr)
        self.assertEqual(res.stdout.decode().strip(), os.path.join(self.work, "venv"))
        self.assertTrue(res.record("python_deps")["detail"].get("uncached_after_enospc")
                        or res.record("venv")["detail"].get("uncached_after_enospc"))
        self.assertEqual(os.listdir(os.path.join(cache, "venvs")), [])
        self.assertEqual(self.status_of(cache), [])
        # Snapshot: the venv is built in the (roomy) work dir, the archive does not fit in the
        # 256 KiB left on the volume.
        st = os.statvfs(volume)
        with open(os.path.join(volume, "filler"), "wb") as fh:
            fh.write(b"\0" * (st.f_bavail * st.f_frsize - 256 * 1024))
        snap = self.run_tr(env=dict(env, TASKRUNNER_ENV_MODE="snapshot", UV_CACHE_DIR=self.cache))
        self.assertEqual(snap.code, 0, snap.stderr[-2000:])
        self.assertIn("publish_error", snap.record("python_deps")["detail"]["env_cache"])
        self.assertEqual([n for n in os.listdir(os.path.join(cache, "envs")) if n.startswith(".tmp-")], [])

    def test_05b_a_volume_full_before_the_venv_is_written_goes_on_uncached(self):
        """In place, the env cache on a tmpfs with no block left: directories, empty lock files
        and short symlinks still fit (inodes), `pyvenv.cfg` does not — taskrunner's own venv
        write fails with ENOSPC, the half-written venv is removed and the run goes on in the work
        dir, uncached, publishing nothing."""
        volume = os.path.join(self.work, "full")
        os.makedirs(volume)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", volume], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", volume], check=False)
        cache = os.path.join(volume, "env")
        fd = os.open(os.path.join(volume, "filler"), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError as e:
            self.assertEqual(e.errno, errno.ENOSPC)
        finally:
            os.close(fd)
        env = self.env(TASKRUNNER_ENV_MODE="inplace", TASKRUNNER_ENV_CACHE=cache,
                       TASKRUNNER_MIN_FREE_MB="0", PYTHON_DEPS="six",
                       PYTHON_CODE="import six, sys; print(sys.prefix)")
        res = self.run_tr(env=env)
        self.assertEqual(res.code, 0, res.stderr[-3000:])
        venv = res.record("venv")["detail"]
        self.assertEqual(venv["created_by"], "taskrunner")
        self.assertTrue(venv.get("uncached_after_enospc"), venv)
        self.assertIn(b"ENOSPC", res.stderr)
        self.assertEqual(res.stdout.decode().strip(), os.path.join(self.work, "venv"))
        self.assertEqual(os.listdir(os.path.join(cache, "venvs")), [])

    def test_06_numbers_are_finite_in_range_and_real_dates(self):
        bad = {"TASKRUNNER_CODE_TIMEOUT": ["inf", "1e10", "nan", "-1", "99999999999"],
               "TASKRUNNER_INSTALL_TIMEOUT": ["inf", "1e10"],
               "ARGO_DEADLINE": ["9999-12-31T23:59:59Z", "2026-02-30T00:00:00Z"],
               "TASKRUNNER_MIN_FREE_MB": ["17592186044416", "-1"]}
        for var, values in bad.items():
            for v in values:
                res = self.run_tr(env=self.env(PYTHON_CODE="pass", **{var: v}))
                self.assertEqual(res.code, 2, (var, v))
                self.assertEqual(self.spec_event(res)["detail"]["field"], var)
        for args in (["--max-age", "nan"], ["--max-age", "inf"], ["--max-age", "1e300"],
                     ["--max-age", "-1"], ["--max-bytes", "-1"], ["--max-bytes", "1e3"]):
            p = self.cache_cmd("prune", *args)
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
        self.cold()
        p = self.cache_cmd("prune", "--max-age", "0.04")  # 58 minutes: an entry used just now stays
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.status()), 1, p.stdout)

    def test_07_sigterm_ends_the_wait_for_another_builder(self):
        first = self.cold()
        key = first.record("venv")["detail"]["env_cache"]["key"]
        self.assertEqual(self.cache_cmd("prune", "--max-bytes", "0").returncode, 0)
        self.assertEqual(self.status(), [])
        lock = os.path.join(self.env_cache, "locks", f"{key}-inplace.build")
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # "another builder" that never finishes
            work = os.path.join(self.work, "waiter")
            proc = subprocess.Popen([TASKRUNNER], env=self.cenv(
                TASKRUNNER_WORK_DIR=work, TASKRUNNER_RESULTS_DIR=os.path.join(work, "results"),
                PYTHON_DEPS="six", PYTHON_CODE="import six"), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            try:
                time.sleep(1.5)
                t0 = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=30)
                waited = time.monotonic() - t0
            finally:
                proc.kill()
                proc.wait()
        self.assertEqual(code, 128 + signal.SIGTERM)
        self.assertLess(waited, 3)
        with open(os.path.join(work, "results", "checkpoints.json")) as fh:
            venv = next(c for c in json.load(fh)["checkpoints"] if c["id"] == "venv")
        self.assertEqual(venv["detail"]["reason"], "terminated")

    def test_08_huge_or_nul_code_is_refused_at_spec(self):
        cases = {"python_code": "x = 1\n" * 30000,  # 180 KB: over one argument's 128 KiB
                 "python_code ": "print('before')\0print('after')"}
        for field, value in cases.items():
            spec = os.path.join(self.work, "spec.json")
            with open(spec, "w") as fh:
                json.dump({field.strip(): value}, fh)
            res = self.run_tr(["--spec", spec], env=self.env(PYTHON_DEPS="six"))
            self.assertEqual(res.code, 2, res.stderr[-1000:])
            self.assertEqual(self.spec_event(res)["detail"]["field"], "PYTHON_CODE")
            self.assertFalse(os.path.exists(os.path.join(self.work, "venv")))
        spec = os.path.join(self.work, "spec.json")
        with open(spec, "w") as fh:
            json.dump({"python_code": "pass", "args": ["a\0b"]}, fh)
        res = self.run_tr(["--spec", spec])
        self.assertEqual(res.code, 2)
        self.assertEqual(self.spec_event(res)["detail"]["field"], "args")

    def test_09_symlinks_in_the_cache_are_never_followed(self):
        res = self.cold()
        key = res.record("venv")["detail"]["env_cache"]["key"]
        entry = os.path.join(self.env_cache, "envs", f"{key}-inplace")
        # `hits` as a symlink: a hit must not append to its target.
        target = os.path.join(self.work, "hits-target")
        open(target, "w").close()
        hits = os.path.join(entry, "hits")
        if os.path.exists(hits):
            os.remove(hits)
        os.symlink(target, hits)
        # the use lock as a dangling symlink: its target must not be created.
        use = os.path.join(self.env_cache, "locks", f"{key}-inplace.use")
        os.remove(use)
        created = os.path.join(self.work, "created-by-lock")
        os.symlink(created, use)
        warm = self.run_tr(env=self.cenv(PYTHON_DEPS="six", PYTHON_CODE="import six"))
        self.assertEqual(warm.code, 0, warm.stderr[-2000:])
        self.assertEqual(os.path.getsize(target), 0)
        self.assertFalse(os.path.exists(created))
        # `venvs` as a symlink: prune refuses to walk it, a run builds without the cache.
        outside = tempfile.mkdtemp(prefix="outside-", dir=self.work)
        os.makedirs(os.path.join(outside, KEY + "-0123456789abcdef"))
        venvs = os.path.join(self.env_cache, "venvs")
        os.rename(venvs, venvs + ".real")
        os.symlink(outside, venvs)
        p = self.cache_cmd("prune", "--max-bytes", "0")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("symlink", p.stderr)
        self.assertTrue(os.path.isdir(os.path.join(outside, KEY + "-0123456789abcdef")))
        run = self.run_tr(env=self.cenv(PYTHON_DEPS="six", PYTHON_CODE="import six"))
        self.assertEqual(run.code, 0)
        self.assertIn(b"is a symlink", run.stderr)
        self.assertEqual(os.listdir(outside), [KEY + "-0123456789abcdef"])

    def test_10_installer_configuration_cannot_change_what_a_key_holds(self):
        """PIP_FIND_LINKS (and every other resolution-changing PIP_*/UV_*) never reaches the
        installer: a pod with a fake six-99.0 wheel beside it still gets the index's six, and the
        entry it publishes is the one the next pod gets."""
        links = os.path.join(self.work, "links")
        os.makedirs(links)
        with zipfile.ZipFile(os.path.join(links, "six-99.0-py3-none-any.whl"), "w") as whl:
            whl.writestr("six.py", "__version__ = '99.0'\n")
            whl.writestr("six-99.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\nName: six\nVersion: 99.0\n")
            whl.writestr("six-99.0.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
            whl.writestr("six-99.0.dist-info/RECORD", "")
        code = "import six; print(six.__version__)"
        for extra in ({"PIP_FIND_LINKS": links}, {"UV_FIND_LINKS": links, "PIP_PRE": "1"}):
            res = self.run_tr(env=self.cenv(PYTHON_DEPS="six", PYTHON_CODE=code, **extra))
            self.assertEqual(res.code, 0, res.stderr[-2000:])
            self.assertEqual(res.stdout.decode().strip(), "1.16.0")
        clean = self.run_tr(env=self.cenv(PYTHON_DEPS="six", PYTHON_CODE=code))
        self.assertEqual(clean.stdout.decode().strip(), "1.16.0")
        self.assertEqual(clean.record("venv")["detail"]["env_cache"]["result"], "hit")


if __name__ == "__main__":
    unittest.main()
