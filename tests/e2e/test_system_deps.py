"""System dependencies through Nix, for real: Debian's nix-bin (2.8) as root without a daemon,
a fixture nixpkgs (tests/fixtures/nixpkgs) pinned with TASKRUNNER_NIXPKGS, a file:// binary cache,
and nix-portable through tests/doubles/nix-portable-test-double (which wraps the real nix)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

from harness import TESTS, TASKRUNNER, IndexServer, TaskrunnerTest, in_parallel, require

FIXTURE = os.path.join(TESTS, "fixtures", "nixpkgs")
NP_DOUBLE = os.path.join(TESTS, "doubles", "nix-portable-test-double")
NIX_CONFIG = "\n".join([
    "sandbox = false",           # no build users or namespaces needed as root
    "substituters =",            # no binary cache on the internet here
    "build-users-group =",
    "experimental-features = nix-command",
])
HAVE_NIX = shutil.which("nix-build") is not None

SHOW_TOOLS = ("import shutil, subprocess\n"
              "for tool in ('shout', 'hello'):\n"
              "    out = subprocess.run([tool], capture_output=True, text=True, check=True).stdout\n"
              "    print(tool, shutil.which(tool), out.strip())\n")


class NixBase(TaskrunnerTest):
    """Each class gets its own salt, so its store paths are new and every cold build is real."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.salt = uuid.uuid4().hex

    def setUp(self):
        super().setUp()
        require(self, HAVE_NIX, "nix-build on PATH (Debian's nix-bin)")
        self.roots = os.path.join(self.work, "gcroots")
        self.build_log = os.path.join(self.work, "builds.log")

    def env(self, **extra):
        base = dict(NIX_CONFIG=NIX_CONFIG, TASKRUNNER_NIXPKGS=FIXTURE,
                    TASKRUNNER_NIX_ROOTS=self.roots, TASKRUNNER_FIXTURE_SALT=self.salt,
                    TASKRUNNER_BUILD_LOG=self.build_log)
        base.update(extra)
        return super().env(**base)

    def builds(self):
        if not os.path.exists(self.build_log):
            return []
        with open(self.build_log) as fh:
            return fh.read().split()

    def sys_record(self, res):
        return res.record("system_deps")


class SystemDeps(NixBase):
    def test_cold_then_warm_without_any_nix_process(self):
        env = self.env(SYSTEM_DEPS="shout tools.hello")
        cold = self.run_tr(["--code", SHOW_TOOLS], env=env)
        self.assertEqual(cold.code, 0, cold.stderr.decode()[-3000:])
        rec = self.sys_record(cold)
        self.assertEqual(rec["status"], "ok")
        self.assertEqual(rec["detail"]["cache"], "miss")
        self.assertEqual(rec["detail"]["built_by"], "this runner")
        store = rec["detail"]["store_path"]
        self.assertTrue(store.startswith("/nix/store/") and store.endswith("-taskrunner-system-deps"))
        link = os.path.join(self.roots, rec["detail"]["key"])
        self.assertEqual(os.readlink(link), store)
        # shout depends on greet, which is not asked for: it runs through its store path.
        self.assertEqual(sorted(self.builds()),
                         sorted(["greet-1.0", "shout-1.0", "hello-2.0", "taskrunner-system-deps"]))
        out = cold.stdout.decode()
        self.assertIn(f"shout {store}/bin/shout GREETINGS FROM NIX", out)
        self.assertIn(f"hello {store}/bin/hello hello", out)
        # nix-build's output is attributable in the pod log and the log file.
        self.assertIn(b"[system_deps] building '/nix/store/", cold.stderr)
        self.assertIn(b"[system_deps] building '/nix/store/", cold.log())
        nix = cold.record("nix")["detail"]
        self.assertEqual(nix["store_mode"], "native")
        self.assertIn("2.", nix["version"])

        # Warm: same key, link valid → no Nix process at all (strace sees every execve).
        require(self, shutil.which("strace"), "strace, to prove no Nix process starts")
        trace = os.path.join(self.work, "execve.trace")
        proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-o", trace,
                               TASKRUNNER, "--code", SHOW_TOOLS], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode()[-3000:])
        with open(trace) as fh:
            execs = [l for l in fh if "execve(" in l and "= 0" in l]
        self.assertTrue(execs)
        self.assertFalse([l for l in execs if "/nix-build" in l or '"/usr/bin/nix' in l
                          or "nix-build-once" in l], execs)
        self.assertIn(f"shout {store}/bin/shout GREETINGS FROM NIX", proc.stdout.decode())
        with open(os.path.join(self.work, "results", "checkpoints.json")) as fh:
            doc = json.load(fh)
        recs = {c["id"]: c for c in doc["checkpoints"]}
        self.assertEqual(recs["system_deps"]["detail"]["cache"], "hit")
        self.assertEqual(recs["system_deps"]["detail"]["store_path"], store)
        self.assertIsNone(recs["nix"]["detail"]["version"])
        self.assertEqual(len(self.builds()), 4)  # nothing rebuilt

    def test_unknown_attribute_is_named_with_a_hint(self):
        res = self.run_tr(["--code", "print('never')"],
                          env=self.env(SYSTEM_DEPS="shout no-such-tool"))
        self.assertEqual(res.code, 125)
        rec = self.sys_record(res)
        self.assertEqual(rec["status"], "failed")
        self.assertEqual(rec["detail"]["attribute"], "no-such-tool")
        self.assertIn("no-such-tool", rec["error"]["message"])
        self.assertIn("search.nixos.org", rec["error"]["hint"])
        self.assertEqual(res.record("user_code")["status"], "skipped")
        self.assertNotIn(b"never", res.stdout)

    def test_bad_attribute_never_reaches_nix(self):
        for bad in ("/nix/store/abc-gcc", "gcc;rm", "..", "$(id)", "conda"):
            res = self.run_tr(["--code", "print(1)"], env=self.env(SYSTEM_DEPS=bad))
            self.assertEqual(res.code, 2, bad)
            spec = [e for e in res.events if e["id"] == "spec"][-1]
            self.assertEqual(spec["status"], "failed", bad)
            self.assertIn("SYSTEM_DEPS", spec["error"]["message"])
            self.assertFalse(os.path.exists(self.roots), bad)
        self.assertIn("micromamba", spec["error"]["message"])

    def test_concurrent_runs_of_one_key_build_once(self):
        env = self.env(SYSTEM_DEPS="slowtool shout", TASKRUNNER_FIXTURE_SLEEP="2")
        def one(i):
            work = tempfile.mkdtemp(prefix=f"conc{i}-", dir=self.root)
            e = dict(env, TASKRUNNER_WORK_DIR=work)
            p = subprocess.run([TASKRUNNER, "--code",
                                "import subprocess; print(subprocess.check_output(['slowtool']).decode().strip())"],
                               env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
            with open(os.path.join(work, "results", "checkpoints.json")) as fh:
                return p, json.load(fh)

        built_by = []
        for p, doc in in_parallel(3, one):
            self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
            self.assertEqual(p.stdout.decode().strip(), "slow")
            sysrec = next(c for c in doc["checkpoints"] if c["id"] == "system_deps")
            built_by.append(sysrec["detail"].get("built_by", "hit"))
        # One build of each derivation, whatever the interleaving.
        self.assertEqual(sorted(self.builds()),
                         sorted(["slowtool-1.0", "greet-1.0", "shout-1.0", "taskrunner-system-deps"]))
        self.assertEqual(built_by.count("this runner"), 1, built_by)


class Parallel(NixBase):
    def test_system_deps_overlaps_python_deps(self):
        env = self.env(SYSTEM_DEPS="slowtool", TASKRUNNER_FIXTURE_SLEEP="4", PYTHON_DEPS="six")
        res = self.run_tr(["--code", "import six, subprocess; "
                                     "print(six.__name__, subprocess.check_output(['slowtool']).decode().strip())"],
                          env=env)
        self.assertEqual(res.code, 0, res.stderr.decode()[-3000:])
        self.assertEqual(res.stdout.decode().strip(), "six slow")
        doc = self.assert_all_checkpoints(res)
        recs = {c["id"]: c for c in doc["checkpoints"]}
        # system_deps began before venv and ended after python_deps started: they overlapped.
        # (The venv is written in well under a millisecond, so the two may share a timestamp:
        # the order of the `running` events says which began first.)
        running = [e["id"] for e in res.events if e["status"] == "running"]
        self.assertLess(running.index("system_deps"), running.index("venv"))
        self.assertLessEqual(recs["system_deps"]["started_at"], recs["venv"]["started_at"])
        self.assertLess(recs["python_deps"]["started_at"], recs["system_deps"]["ended_at"])
        self.assertGreaterEqual(recs["system_deps"]["duration_ms"], 4000)

    def test_failed_build_stops_python_deps(self):
        with IndexServer(stall=60) as stalled:
            env = self.env(SYSTEM_DEPS="brokenlater", PYTHON_DEPS="six",
                           TASKRUNNER_INDEX_URL=stalled.url, TASKRUNNER_FIXTURE_SLEEP="5")
            t0 = time.monotonic()
            res = self.run_tr(["--code", "print('never')"], env=env)
            elapsed = time.monotonic() - t0
        self.assertEqual(res.code, 125)
        self.assertLess(elapsed, 45)  # not the 60 s the stalled index would take
        sysrec, pyrec = self.sys_record(res), res.record("python_deps")
        self.assertEqual(sysrec["status"], "failed")
        self.assertIn("nix-build failed", sysrec["error"]["message"])
        self.assertEqual(pyrec["status"], "failed")
        self.assertEqual(pyrec["detail"]["reason"], "cancelled")
        self.assertIn(b"[system_deps] this build fails on purpose, later", res.stderr)
        # The run's summary names the cause, not the cancelled step.
        self.assertIn(b"failed at checkpoint system_deps", res.stderr)

    def test_build_failing_during_venv_stops_the_run_there(self):
        res = self.run_tr(["--code", "print('never')"],
                          env=self.env(SYSTEM_DEPS="broken", PYTHON_DEPS="six"))
        self.assertEqual(res.code, 125)
        self.assertEqual(self.sys_record(res)["status"], "failed")
        self.assertIn(b"failed at checkpoint system_deps", res.stderr)
        self.assertEqual(res.record("user_code")["status"], "skipped")
        self.assertNotIn(b"never", res.stdout)

    def test_failed_python_deps_stops_the_build(self):
        env = self.env(SYSTEM_DEPS="slowtool", TASKRUNNER_FIXTURE_SLEEP="120",
                       PYTHON_DEPS="no-such-package-here")
        res = self.run_tr(["--code", "print('never')"], env=env, timeout=100)
        self.assertEqual(res.code, 125)
        self.assertLess(res.elapsed, 60)
        sysrec = self.sys_record(res)
        self.assertEqual(sysrec["status"], "failed")
        self.assertEqual(sysrec["detail"]["reason"], "cancelled")
        self.assertIn("python_deps", sysrec["error"]["message"])
        self.assertEqual(res.record("python_deps")["status"], "failed")
        self.assertIn(b"failed at checkpoint python_deps", res.stderr)
        # No nix-build left behind.
        left = subprocess.run(["pgrep", "-f", "slowtool-1.0"], stdout=subprocess.PIPE)
        self.assertEqual(left.stdout, b"")


class BinaryCache(NixBase):
    def test_substitutes_from_a_file_binary_cache_after_gc(self):
        env = self.env(SYSTEM_DEPS="shout")
        first = self.run_tr(["--code", "import subprocess; subprocess.run(['shout'], check=True)"],
                            env=env)
        self.assertEqual(first.code, 0, first.stderr.decode()[-3000:])
        store = self.sys_record(first)["detail"]["store_path"]
        closure = subprocess.run(["nix-store", "-qR", store], check=True,
                                 stdout=subprocess.PIPE).stdout.decode().split()
        cache = os.path.join(self.work, "binary-cache")
        nix_env = dict(env)
        subprocess.run(["nix", "copy", "--to", "file://" + cache, store], check=True, env=nix_env)
        # Forget it locally: drop the root, then delete the closure from the store.
        os.unlink(os.path.join(self.roots, self.sys_record(first)["detail"]["key"]))
        subprocess.run(["nix-store", "--delete", *closure], check=True, env=nix_env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in closure:
            self.assertFalse(os.path.exists(p), p)
        builds_before = len(self.builds())
        env2 = dict(env, NIX_CONFIG=NIX_CONFIG.replace("substituters =", "substituters = file://" + cache)
                    + "\nrequire-sigs = false")
        second = self.run_tr(["--code", "import subprocess; subprocess.run(['shout'], check=True)"],
                             env=env2)
        self.assertEqual(second.code, 0, second.stderr.decode()[-3000:])
        self.assertEqual(self.sys_record(second)["detail"]["cache"], "miss")
        self.assertEqual(self.sys_record(second)["detail"]["store_path"], store)
        self.assertIn(b"GREETINGS FROM NIX", second.stdout)
        self.assertEqual(len(self.builds()), builds_before)  # fetched, not built
        self.assertIn(b"[system_deps] copying path", second.stderr)


class NixPortable(NixBase):
    """The nix-portable store mode, through the test double wrapping the real nix."""

    def np_env(self, np, **extra):
        return self.env(TASKRUNNER_NIX_PORTABLE=NP_DOUBLE, NP_LOCATION=np,
                        NP_TEST_DOUBLE_LOG=os.path.join(self.work, "np.log"), **extra)

    def calls(self):
        path = os.path.join(self.work, "np.log")
        if not os.path.exists(path):
            return []
        with open(path) as fh:
            return [json.loads(l) for l in fh]

    def test_concurrent_first_starts_are_serialised_and_code_runs_inside(self):
        np = os.path.join(self.work, "np")
        env = self.np_env(np, SYSTEM_DEPS="shout")
        def one(i):
            work = tempfile.mkdtemp(prefix=f"np{i}-", dir=self.root)
            return subprocess.run([TASKRUNNER, "--code", SHOW_TOOLS.replace("'hello'", "")],
                                     env=dict(env, TASKRUNNER_WORK_DIR=work),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)

        for p in in_parallel(2, one):
            self.assertEqual(p.returncode, 0, p.stderr.decode()[-3000:])
            self.assertIn(b"GREETINGS FROM NIX", p.stdout)
        calls = self.calls()
        self.assertEqual(sum(1 for c in calls if c["unpacked"]), 1)  # one start-up unpacked
        self.assertTrue(all(c["np_location"] == np for c in calls))
        programs = {c["argv"][0] for c in calls}
        self.assertLessEqual(programs, {"nix", "nix-build"})
        shells = [c["argv"] for c in calls if "shell" in c["argv"]]
        self.assertEqual(len(shells), 2)  # the user code ran inside nix-portable, both times
        for argv in shells:
            self.assertEqual(argv[argv.index("--command") + 1].split("/")[-1], "python")

        # Warm: no nix-build, no version probe; only the user code's wrapper.
        before = len(calls)
        warm = self.run_tr(["--code", SHOW_TOOLS.replace("'hello'", "")], env=env)
        self.assertEqual(warm.code, 0, warm.stderr.decode()[-3000:])
        self.assertEqual(self.sys_record(warm)["detail"]["cache"], "hit")
        new = self.calls()[before:]
        self.assertEqual(len(new), 1, new)
        self.assertIn("shell", new[0]["argv"])
        self.assertEqual(warm.record("nix")["detail"]["store_mode"], "portable")

    def test_unserialised_start_would_fail(self):
        """The double really detects concurrent start-up (so the test above can fail)."""
        np = os.path.join(self.work, "np2")
        env = dict(os.environ, NP_LOCATION=np)
        a = subprocess.Popen([NP_DOUBLE, "nix", "--version"], env=env, stderr=subprocess.PIPE)
        time.sleep(0.1)
        b = subprocess.run([NP_DOUBLE, "nix", "--version"], env=env, stderr=subprocess.PIPE)
        a.wait()
        self.assertEqual(b.returncode, 99, b.stderr)


if __name__ == "__main__":
    unittest.main()
