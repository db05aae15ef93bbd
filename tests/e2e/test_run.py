"""End-to-end: the real taskrunner binary, a real loopback index of real wheels, real venvs."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CHECKPOINT_IDS, NO_REAL_UV, REAL_UV, TASKRUNNER, UV_DOUBLE, TaskrunnerTest, clean_env,  # noqa: E402
                     in_parallel,
                     validate_record)


class Success(TaskrunnerTest):
    """Happy paths, run with whatever installer the class selects (pip fallback here)."""

    def test_deps_installed_from_index_and_importable(self):
        code = ("import requests, jsonschema, pydantic, dateutil, markupsafe, jinja2, yaml;"
                "print('deps ok', requests.__version__, jsonschema.validate(1, {'type': 'integer'}))")
        res = self.run_tr(env=self.env(PYTHON_CODE=code, PYTHON_DEPS="requests, jsonschema>=4 pydantic,python-dateutil MarkupSafe Jinja2 PyYAML"))
        self.assertEqual(res.code, 0, res.stderr.decode(errors="replace")[-3000:])
        self.assertIn(b"deps ok", res.stdout)
        doc = self.assert_all_checkpoints(res)
        deps = res.record("python_deps")
        self.assertEqual(deps["status"], "ok")
        self.assertEqual(deps["detail"]["requested"], 7)
        self.assertGreaterEqual(deps["detail"]["installed_distributions"], 16)
        self.assertEqual(res.record("network")["status"], "ok")
        self.assertEqual(res.record("user_code")["detail"]["exit_code"], 0)
        # Each checkpoint is recorded when it starts and when it ends.
        for cid in CHECKPOINT_IDS:
            statuses = [e["status"] for e in res.events if e["id"] == cid]
            self.assertIn(statuses[-1], {"ok", "warn", "skipped"}, cid)
        self.assertTrue(doc["run_id"])
        # The log file holds the same output as the pod log.
        self.assertIn(b"deps ok", res.log())
        self.assertIn(b'"id":"user_code"', res.log())

    def test_requirements_file(self):
        req = os.path.join(self.work, "req.txt")
        with open(req, "w") as fh:
            fh.write("# pinned\nsix==1.16.0\nattrs \\\n  >=20\n\nidna  # trailing comment\n")
        res = self.run_tr(["run", "--requirements", req, "--code",
                           "import six, attrs, idna; print(six.__version__)"])
        self.assertEqual(res.code, 0, res.stderr[-2000:])
        self.assertEqual(res.stdout.strip(), b"1.16.0")
        with open(os.path.join(self.work, "requirements.txt")) as fh:
            self.assertEqual(fh.read().split(), ["six==1.16.0", "attrs", ">=20", "idna"])

    def test_code_file_with_args(self):
        script = os.path.join(self.work, "task.py")
        with open(script, "w") as fh:
            fh.write("import sys\nprint('argv', sys.argv[1:])\n")
        res = self.run_tr(["--code-file", script, "--", "--flag", "two words", "$(id)"])
        self.assertEqual(res.code, 0)
        self.assertEqual(res.stdout.strip(), b"argv ['--flag', 'two words', '$(id)']")
        self.assertEqual(res.record("python_deps")["status"], "skipped")
        self.assertEqual(res.record("network")["status"], "skipped")

    def test_spec_file_and_cli_override(self):
        spec = os.path.join(self.work, "spec.json")
        with open(spec, "w") as fh:
            json.dump({"python_code": "print('from spec')", "python_deps": ["six"], "args": ["a"]}, fh)
        res = self.run_tr(["--spec", spec], env=self.env(PYTHON_CODE="print('from env')"))
        self.assertEqual(res.stdout.strip(), b"from spec")
        res = self.run_tr(["--spec", spec, "--code", "import sys; print('from cli', sys.argv[1:])"])
        self.assertEqual(res.stdout.strip(), b"from cli ['a']")

    def test_user_exit_code_passes_through(self):
        res = self.run_tr(["--code", "import sys; print('bye'); sys.exit(3)"])
        self.assertEqual(res.code, 3)
        self.assertEqual(res.record("user_code")["status"], "failed")
        self.assertEqual(self.assert_all_checkpoints(res)["exit_code"], 3)

    def test_killed_user_code_gives_128_plus_signal(self):
        res = self.run_tr(["--code", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
        self.assertEqual(res.code, 128 + 9)
        self.assertEqual(res.record("user_code")["detail"]["signal"], 9)

    def test_user_code_environment(self):
        res = self.run_tr(["--code", "import os, sys; print(os.environ['VIRTUAL_ENV']); "
                           "print(os.environ['PATH'].split(':')[0]); print(os.environ['PYTHONUNBUFFERED']);"
                           "print(sys.prefix); print(os.getpgrp() == os.getpid())"])
        lines = res.stdout.decode().split()
        venv = os.path.join(self.work, "venv")
        self.assertEqual(lines, [venv, os.path.join(venv, "bin"), "1", venv, "True"])

    def test_the_venv_taskrunner_writes_is_the_one_python_m_venv_makes(self):
        """The venv is written directly (PEP 405: pyvenv.cfg and links, no child): the user code
        sees the same prefixes, sys.path, install scheme and site dirs as in a venv that
        `python -m venv --without-pip` made at the same place, and pip installs into it."""
        code = ("import json, site, sys, sysconfig; print(json.dumps([sys.prefix, sys.base_prefix, "
                "sys.exec_prefix, sys.path[1:], sysconfig.get_paths(), site.getsitepackages(), "
                "site.ENABLE_USER_SITE, sys.flags.no_user_site]))")
        res = self.run_tr(env=self.env(PYTHON_CODE=code, PYTHON_DEPS="six"))
        self.assertEqual(res.code, 0, res.stderr[-2000:])
        self.assertEqual(res.record("venv")["detail"]["created_by"], "taskrunner")
        venv = os.path.join(self.work, "venv")
        with open(os.path.join(venv, "pyvenv.cfg")) as fh:
            cfg = dict(line.split(" = ", 1) for line in fh.read().splitlines())
        ours = json.loads(res.stdout)
        self.assertTrue(os.path.exists(os.path.join(ours[4]["purelib"], "six.py")))
        shutil.rmtree(venv)
        subprocess.run([cfg["executable"], "-m", "venv", "--without-pip", venv], check=True)
        theirs = json.loads(subprocess.run([os.path.join(venv, "bin", "python"), "-c", code],
                                           check=True, capture_output=True).stdout)
        self.assertEqual(ours, theirs)

    def test_user_code_timeout(self):
        res = self.run_tr(["--code", "import time; time.sleep(60)"],
                          env=self.env(TASKRUNNER_CODE_TIMEOUT="1", TASKRUNNER_GRACE_SECONDS="1"))
        self.assertEqual(res.code, 124)
        self.assertEqual(res.record("user_code")["status"], "timeout")
        self.assertLess(res.elapsed, 30)

    def test_no_cache_and_unusable_cache(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="import six", PYTHON_DEPS="six", USE_CACHE="false"))
        self.assertEqual(res.code, 0)
        self.assertEqual(res.record("cache_mounts")["status"], "skipped")
        # A cache path that cannot be a directory: the run warns and goes on without cache.
        res = self.run_tr(env=self.env(PYTHON_CODE="import six", PYTHON_DEPS="six",
                                       UV_CACHE_DIR="/proc/version/cache"))
        self.assertEqual(res.code, 0, res.stderr[-2000:])
        rec = res.record("cache_mounts")
        self.assertEqual(rec["status"], "warn")
        self.assertIn("/proc/version/cache", rec["error"]["hint"])
        self.assertFalse(res.record("python_deps")["detail"]["cache"])

    def test_warm_run_skips_interpreter_probe(self):
        self.run_tr(["--code", "pass"])
        res = self.run_tr(["--code", "pass"])
        self.assertTrue(res.record("venv")["detail"]["resolved_from_cache"])


class Failures(TaskrunnerTest):
    def test_unknown_package(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="print(1)", PYTHON_DEPS="six nosuchpkg-xyz"))
        self.assertEqual(res.code, 125)
        rec = res.record("python_deps")
        self.assertEqual(rec["status"], "failed")
        self.assertIn("nosuchpkg-xyz", rec["error"]["message"])
        self.assertEqual(rec["detail"]["package"], "nosuchpkg-xyz")
        self.assertEqual(res.record("user_code")["status"], "skipped")
        self.assertEqual(res.record("user_code")["detail"]["reason"], "not reached")
        self.assert_all_checkpoints(res)
        self.assertIn(b"failed at checkpoint python_deps", res.stderr)

    def test_bad_specifiers_exit_2_and_create_nothing(self):
        bad = ["numpy; rm -rf /", "$(id)", "`id`", "six\nidna", "six | cat", "six>=1 && id",
               "../etc/passwd", "six; python_version > '3' or $(id)"]
        for dep in bad:
            with self.subTest(dep=dep):
                work = os.path.join(self.work, "w")
                res = self.run_tr(["--code", "print(1)", "--dep", dep],
                                  env=self.env(TASKRUNNER_WORK_DIR=work))
                self.assertEqual(res.code, 2, res.stderr)
                self.assertFalse(os.path.exists(work))
                spec = [e for e in res.events if e["id"] == "spec"][-1]
                self.assertEqual(spec["status"], "failed")
                self.assertEqual(spec["detail"]["field"], "PYTHON_DEPS")
                self.assertEqual(res.events[-1]["detail"]["reason"], "not reached")
        for line in ["--index-url http://evil/simple", "-e .", "-r other.txt", "-c c.txt",
                     "--extra-index-url http://evil", "six --index-url=http://evil"]:
            with self.subTest(line=line):
                work = os.path.join(self.work, "w")
                res = self.run_tr(env=self.env(TASKRUNNER_WORK_DIR=work, PYTHON_CODE="print(1)",
                                               REQUIREMENTS="six\n" + line + "\n"))
                self.assertEqual(res.code, 2)
                self.assertIn(b"REQUIREMENTS: line 2", res.stderr)
                self.assertFalse(os.path.exists(work))

    def test_bad_input_fields(self):
        cases = [
            ({"PYTHON_CODE": "   "}, [], b"PYTHON_CODE"),
            ({}, [], b"no code to run"),
            ({"PYTHON_CODE_FILE": "/nonexistent/x.py"}, [], b"PYTHON_CODE_FILE"),
            ({"PYTHON_CODE": "1", "SYSTEM_DEPS": "gcc /nix/store/abc"}, [], b"SYSTEM_DEPS"),
            ({"PYTHON_CODE": "1", "SYSTEM_DEPS": "gcc;id"}, [], b"SYSTEM_DEPS"),
            ({"PYTHON_CODE": "1", "USE_CACHE": "maybe"}, [], b"USE_CACHE"),
            ({"PYTHON_CODE": "1", "TASKRUNNER_CODE_TIMEOUT": "soon"}, [], b"TASKRUNNER_CODE_TIMEOUT"),
            ({"PYTHON_CODE": "1", "TASKRUNNER_INDEX_URL": "ftp://x/simple"}, [], b"TASKRUNNER_INDEX_URL"),
            ({"PYTHON_CODE": "1"}, ["--bogus"], b"unrecognised option"),
        ]
        for extra, args, needle in cases:
            with self.subTest(extra=extra, args=args):
                work = os.path.join(self.work, "w")
                res = self.run_tr(args, env=self.env(TASKRUNNER_WORK_DIR=work, **extra))
                self.assertEqual(res.code, 2)
                self.assertIn(needle, res.stderr)
                self.assertFalse(os.path.exists(work))

    def test_bad_spec_documents(self):
        for content, needle in [("{not json", b"malformed JSON"),
                                ('{"python_code": "1", "pythn_deps": []}', b"pythn_deps: unknown field"),
                                ('{"python_code": 5}', b"python_code: must be a string"),
                                ('[]', b"must be a JSON object")]:
            with self.subTest(content=content):
                spec = os.path.join(self.root, "bad-spec.json")
                with open(spec, "w") as fh:
                    fh.write(content)
                work = os.path.join(self.work, "w")
                res = self.run_tr(env=self.env(TASKRUNNER_WORK_DIR=work, TASKRUNNER_SPEC=spec))
                self.assertEqual(res.code, 2)
                self.assertIn(needle, res.stderr)
                self.assertFalse(os.path.exists(work))

    def test_a_nix_that_builds_nothing_fails_system_deps(self):
        np = os.path.join(self.work, "np")
        res = self.run_tr(env=self.env(PYTHON_CODE="print(1)", SYSTEM_DEPS="gcc",
                                       TASKRUNNER_NIX_PORTABLE="/bin/true", NP_LOCATION=np))
        self.assertEqual(res.code, 125)
        self.assertEqual(res.record("nix")["status"], "ok")
        rec = res.record("system_deps")
        self.assertEqual(rec["status"], "failed")
        self.assertIn("does not point to a store path", rec["error"]["message"])
        self.assertEqual(res.record("user_code")["status"], "skipped")

    def test_missing_interpreter_is_127(self):
        res = self.run_tr(["--code", "print(1)"], env=self.env(TASKRUNNER_PYTHON="/nonexistent/python3"))
        self.assertEqual(res.code, 127)
        self.assertEqual(res.record("venv")["status"], "failed")

    def test_index_unreachable(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="six",
                                       TASKRUNNER_INDEX_URL="http://127.0.0.1:9/simple"))
        self.assertEqual(res.code, 125)
        rec = res.record("network")
        self.assertEqual(rec["status"], "failed")
        self.assertIn("refused", rec["error"]["message"].lower())

    def test_credentials_never_logged(self):
        url = self.server.url.replace("http://", "http://alice:s3cr3t-token@")
        res = self.run_tr(env=self.env(PYTHON_CODE="import six", PYTHON_DEPS="six",
                                       TASKRUNNER_INDEX_URL=url))
        self.assertEqual(res.code, 0, res.stderr[-2000:])
        with open(os.path.join(res.results, "checkpoints.json"), "rb") as fh:
            record = fh.read()
        for blob in (res.stderr, res.stdout, res.log(), record):
            self.assertNotIn(b"s3cr3t-token", blob)
        self.assertIn("***@127.0.0.1", res.record("python_deps")["detail"]["index_url"])


class StalledIndex(TaskrunnerTest):
    stall = 60

    def test_install_step_timeout_is_124(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="six",
                                       TASKRUNNER_INSTALL_TIMEOUT="2", TASKRUNNER_GRACE_SECONDS="1"))
        self.assertEqual(res.code, 124)
        rec = res.record("python_deps")
        self.assertEqual(rec["status"], "timeout")
        self.assertIn("TASKRUNNER_INSTALL_TIMEOUT", rec["error"]["hint"])
        self.assertLess(res.elapsed, 30)


class Output(TaskrunnerTest):
    def test_large_binary_output_is_byte_exact(self):
        # 10 MB line without newline + invalid UTF-8 on stdout, 100 MB in total; binary on stderr.
        code = (
            "import sys, random\n"
            "out = sys.stdout.buffer\n"
            "out.write(b'x' * 10_000_000)\n"
            "out.write(b'\\xff\\xfe\\x00\\xc3\\x28')\n"
            "r = random.Random(7)\n"
            "for _ in range(90):\n"
            "    out.write(r.randbytes(1_000_000))\n"
            "out.flush()\n"
            "sys.stderr.buffer.write(b'err\\xff\\x00tail')\n"
        )
        import random
        r = random.Random(7)
        expected = b"x" * 10_000_000 + b"\xff\xfe\x00\xc3\x28" + b"".join(r.randbytes(1_000_000) for _ in range(90))
        out_path = os.path.join(self.work, "stdout.bin")
        with open(out_path, "wb") as fh:
            res = self.run_tr(["--code", code], stdout=fh)
        self.assertEqual(res.code, 0, res.stderr[-2000:])
        with open(out_path, "rb") as fh:
            got = fh.read()
        self.assertEqual(len(got), len(expected))
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(expected).hexdigest())
        self.assertIn(b"err\xff\x00tail", res.stderr)
        log = res.log()
        # Both streams share the log file: the stderr chunk may land between two stdout chunks
        # (the pipes are read independently), but each stream's bytes stay whole and in order.
        self.assertEqual(log.count(b"err\xff\x00tail"), 1)
        self.assertIn(expected, log.replace(b"err\xff\x00tail", b""))
        self.assertEqual(res.record("user_code")["detail"]["stdout_bytes"], len(expected))


class Cli(TaskrunnerTest):
    def test_help_and_version(self):
        res = subprocess.run([TASKRUNNER, "--help"], capture_output=True)
        self.assertEqual(res.returncode, 0)
        for word in [b"--code-file", b"--dep", b"--spec", b"PYTHON_DEPS", b"Exit codes", b"125"]:
            self.assertIn(word, res.stdout)
        res = subprocess.run([TASKRUNNER, "--version"], capture_output=True)
        self.assertRegex(res.stdout.decode(), r"^taskrunner \d+\.\d+\.\d+\n$")
        res = subprocess.run([TASKRUNNER, "frobnicate"], capture_output=True)
        self.assertEqual(res.returncode, 2)

    def test_no_arguments_runs_from_environment(self):
        res = self.run_tr([], env=self.env(PYTHON_CODE="print('entrypoint')"))
        self.assertEqual(res.code, 0)
        self.assertEqual(res.stdout.strip(), b"entrypoint")

    def test_killed_run_leaves_a_valid_checkpoint_file(self):
        env = self.env(PYTHON_CODE="import os, time; print(os.getpid(), flush=True); time.sleep(60)")
        proc = subprocess.Popen([TASKRUNNER], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            child = int(proc.stdout.readline())  # the user code is running now
            proc.kill()
            proc.wait()
        finally:
            proc.stdout.close()
        os.kill(child, signal.SIGKILL)  # it has its own process group; nobody else stops it
        with open(os.path.join(self.work, "results", "checkpoints.json")) as fh:
            doc = validate_record(json.load(fh))
        self.assertEqual([c["id"] for c in doc["checkpoints"]], CHECKPOINT_IDS)
        self.assertEqual(doc["checkpoints"][-1]["status"], "running")
        self.assertNotIn("exit_code", doc)
        leftovers = [n for n in os.listdir(os.path.join(self.work, "results")) if ".tmp-" in n]
        self.assertEqual(leftovers, [])

    def test_results_dir_override(self):
        results = os.path.join(self.work, "elsewhere")
        res = self.run_tr(["--code", "print(1)"], env=self.env(TASKRUNNER_RESULTS_DIR=results))
        self.assertEqual(res.code, 0)
        self.assertTrue(os.path.exists(os.path.join(results, "checkpoints.json")))


class UvTestDouble(Success):
    """The uv path against uv-test-double: same tests as Success (its argv/env contract and CLI
    behaviour against the real uv's: test_uv.py)."""
    uv = UV_DOUBLE


@unittest.skipUnless(REAL_UV, NO_REAL_UV)
class RealUv(Success):
    """The happy paths again with the real uv: venv, install, cache, link mode."""
    uv = REAL_UV

    def test_eight_runners_share_one_uv_cache(self):
        """uv's own cache locking: eight cold installs at once on one UV_CACHE_DIR, the env cache
        off, each in its own work dir, all succeed and import what they installed."""
        cache = os.path.join(self.work, "shared-uv-cache")
        code = "import requests, jsonschema, yaml; print('ok', requests.__version__)"

        def one(i):
            work = os.path.join(self.work, f"runner{i}")
            return subprocess.run([TASKRUNNER], env=self.env(
                TASKRUNNER_WORK_DIR=work, UV_CACHE_DIR=cache, PYTHON_CODE=code,
                PYTHON_DEPS="requests jsonschema PyYAML"), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, timeout=600), work

        for p, work in in_parallel(8, one):
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace")[-2000:])
            self.assertEqual(p.stdout.split()[0], b"ok")
            with open(os.path.join(work, "results", "checkpoints.json")) as fh:
                deps = next(c for c in json.load(fh)["checkpoints"] if c["id"] == "python_deps")
            self.assertEqual(deps["detail"]["installer"], "uv")
            self.assertGreaterEqual(deps["detail"]["installed_distributions"], 9)


if __name__ == "__main__":
    unittest.main()
