"""End-to-end diagnosis: `taskrunner doctor`, `taskrunner report`, installer retries and the
failure → hint table (docs/hints.md), each failure injected for real."""
import hashlib
import json
import shutil
import unittest
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (INDEX_DIR, NO_REAL_UV, REAL_UV, TASKRUNNER, IndexServer, TaskrunnerTest,  # noqa: E402
                     can_unshare_mount, read_only_bind, require, run_in_mount_namespace,
                     validate_record)


class Doctor(TaskrunnerTest):
    def doctor(self, *args, **env):
        return subprocess.run([TASKRUNNER, "doctor", *args], env=self.env(**env), capture_output=True)

    def test_healthy_table_and_json(self):
        res = self.doctor()
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        rows = [l.split()[0] for l in res.stdout.decode().splitlines()[1:] if l and not l.startswith(" ")]
        self.assertEqual(rows, ["spec", "runtime", "cache_mounts", "disk_space", "network", "uv", "nix"])
        self.assertNotIn(b'"event":"taskrunner.checkpoint"', res.stderr)
        res = self.doctor("--json")
        doc = validate_record(json.loads(res.stdout))
        network = next(c for c in doc["checkpoints"] if c["id"] == "network")
        self.assertEqual(network["status"], "ok")  # doctor always checks the index
        # Nothing was installed, run or written.
        self.assertFalse(os.path.exists(os.path.join(self.work, "venv")))
        self.assertFalse(os.path.exists(os.path.join(self.work, "results", "checkpoints.json")))

    def test_reports_every_failure_not_just_the_first(self):
        res = self.doctor(TASKRUNNER_INDEX_URL="http://127.0.0.1:9/simple", TASKRUNNER_UV="/nonexistent/uv")
        self.assertEqual(res.returncode, 125)
        out = res.stdout.decode()
        self.assertRegex(out, r"network\s+failed")
        self.assertRegex(out, r"uv\s+failed")
        self.assertIn("hint: nothing listens at the index address", out)

    def test_invalid_spec_is_still_a_usage_error(self):
        res = self.doctor(PYTHON_DEPS="$(id)")
        self.assertEqual(res.returncode, 2)


class Report(TaskrunnerTest):
    def test_timeline_and_svg(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="import six", PYTHON_DEPS="six"))
        self.assertEqual(res.code, 0)
        path = os.path.join(res.results, "checkpoints.json")
        svg = os.path.join(self.work, "timeline.svg")
        out = subprocess.run([TASKRUNNER, "report", path, "--svg", svg], capture_output=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.decode().splitlines()
        rows = [l for l in lines if not l.startswith(" ")]
        self.assertEqual([l.split()[0] for l in rows[:11]],
                         ["spec", "runtime", "cache_mounts", "disk_space", "network", "uv", "nix",
                          "system_deps", "venv", "python_deps", "user_code"])
        deps = next(l for l in lines if l.startswith("python_deps"))
        self.assertIn("#", deps)  # the longest step has a visible bar
        self.assertIn("cache on", deps)
        self.assertRegex(lines[-1], r"^total \d+ ms, exit code 0$")
        root = ET.parse(svg).getroot()  # well-formed XML
        self.assertTrue(root.tag.endswith("svg"))
        self.assertEqual(len(root.findall(".//{http://www.w3.org/2000/svg}rect")), 12)

    def test_failure_shows_message_and_hint(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="nosuchpkg-abc"))
        out = subprocess.run([TASKRUNNER, "report", os.path.join(res.results, "checkpoints.json")],
                             capture_output=True)
        text = out.stdout.decode()
        self.assertIn("nosuchpkg-abc", text)
        self.assertIn("hint:", text)
        self.assertIn("exit code 125", text)

    def test_bad_input(self):
        bad = os.path.join(self.work, "bad.json")
        with open(bad, "w") as fh:
            fh.write('{"x": 1}')
        for args in (["report"], ["report", "/nonexistent.json"], ["report", bad]):
            self.assertEqual(subprocess.run([TASKRUNNER, *args], capture_output=True).returncode, 2, args)


class Hints(TaskrunnerTest):
    """Each known failure, injected for real, gets its id and hint (docs/hints.md)."""

    def expect(self, res, checkpoint, failure, status="failed"):
        rec = res.record(checkpoint)
        self.assertEqual(rec["status"], status, rec)
        self.assertEqual(rec["detail"].get("failure"), failure, rec)
        self.assertTrue(rec["error"]["hint"])
        return rec

    def in_mount_namespace(self, setup, env):
        """Runs a `six` task after `setup` (mount commands) in a private mount namespace."""
        return run_in_mount_namespace(self, setup, env, ["--code", "import six", "--dep", "six"])

    def test_read_only_cache(self):
        require(self, can_unshare_mount(), "unshare --mount (root, mount namespaces)")
        cache = os.path.join(self.work, "ro-cache")
        os.makedirs(cache)
        res = self.in_mount_namespace(read_only_bind(cache),
                                      self.env(UV_CACHE_DIR=cache))
        self.assertEqual(res.code, 0, res.stderr[-2000:])  # goes on without the cache
        rec = self.expect(res, "cache_mounts", "read_only_cache", status="warn")
        self.assertIn(cache, rec["error"]["hint"])

    def test_no_space(self):
        require(self, can_unshare_mount(), "unshare --mount (root, mount namespaces)")
        small = os.path.join(self.work, "small")
        os.makedirs(small)
        env = self.env(TASKRUNNER_WORK_DIR=small, TASKRUNNER_RESULTS_DIR=os.path.join(self.work, "results"))
        res = self.in_mount_namespace(f"mount -t tmpfs -o size=4m tmpfs {small}", env)
        self.assertEqual(res.code, 125)
        self.expect(res, "disk_space", "no_space")

    def test_dns_failure(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="six",
                                       TASKRUNNER_INDEX_URL="http://no-such-index.invalid/simple"))
        self.assertEqual(res.code, 125)
        self.expect(res, "network", "dns_failure")

    def test_connection_refused(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="six",
                                       TASKRUNNER_INDEX_URL="http://127.0.0.1:9/simple"))
        self.expect(res, "network", "connection_refused")

    def test_index_not_found(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="six",
                                       TASKRUNNER_INDEX_URL=self.server.url.replace("/simple", "/no-such-index")))
        self.assertEqual(res.code, 125)
        rec = self.expect(res, "network", "index_not_found")
        self.assertEqual(rec["detail"]["http_status"], 404)

    def test_unknown_package(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="nosuchpkg-hint"))
        self.expect(res, "python_deps", "unknown_package")

    def lock_file(self, sha, header=""):
        path = os.path.join(self.work, "input.lock")
        with open(path, "w") as fh:
            fh.write(f"{header}six==1.16.0 --hash=sha256:{sha}\n")
        return path

    def test_hash_mismatch(self):
        lock = self.lock_file("0" * 64)
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="six", REQUIREMENTS_LOCK=lock,
                                       USE_CACHE="0"))
        self.assertEqual(res.code, 125)
        rec = self.expect(res, "python_deps", "hash_mismatch")
        self.assertIn("six==1.16.0", rec["detail"]["package"])

    def test_lock_mismatch(self):
        with open(os.path.join(INDEX_DIR, "files", "six-1.16.0-py3-none-any.whl"), "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest()
        lock = self.lock_file(sha, header="# python: 2.7.18\n# platform: x86_64-linux\n")
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="six", REQUIREMENTS_LOCK=lock))
        self.assertEqual(res.code, 125)
        self.expect(res, "python_deps", "lock_mismatch")

    def test_resolution_conflict(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="six==1.16.0 six<1.16", USE_CACHE="0"))
        self.assertEqual(res.code, 125)
        self.expect(res, "python_deps", "resolution_conflict")

    def test_sdist_build_failure(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="brokenpkg", USE_CACHE="0"))
        self.assertEqual(res.code, 125)
        self.expect(res, "python_deps", "sdist_build_failed")
        self.assertIn(b"intentional build failure", res.stderr)

    def test_step_timeout(self):
        with IndexServer(stall=60) as slow:
            res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="six", TASKRUNNER_INDEX_URL=slow.url,
                                           TASKRUNNER_INSTALL_TIMEOUT="2", TASKRUNNER_GRACE_SECONDS="1"))
        # The index page answers (the network check passes); the package pages hang.
        self.assertEqual(res.code, 124)
        self.assertEqual(res.record("network")["status"], "ok")
        self.expect(res, "python_deps", "step_timeout", status="timeout")

    def test_volume_permission_denied(self):
        require(self, os.getuid() == 0 and shutil.which("setpriv"),
                "root and setpriv (util-linux) to become an unprivileged user")
        cache = os.path.join(self.work, "root-cache")
        os.makedirs(cache, mode=0o755)
        work = os.path.join(self.work, "nobody-work")
        os.makedirs(work)
        os.chmod(work, 0o777)
        os.chmod(self.work, 0o755)
        os.chmod(self.root, 0o755)
        res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              TASKRUNNER, "doctor", "--json"],
                             env=self.env(UV_CACHE_DIR=cache, TASKRUNNER_WORK_DIR=work), capture_output=True)
        doc = validate_record(json.loads(res.stdout))
        rec = next(c for c in doc["checkpoints"] if c["id"] == "cache_mounts")
        self.assertEqual(rec["status"], "warn", res.stderr)
        self.assertEqual(rec["detail"]["failure"], "volume_permission_denied")

    def test_user_namespaces_blocked(self):
        require(self, shutil.which("strace"), "strace")
        res = subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, "-e", "trace=unshare",
                              "-e", "inject=unshare:error=EPERM", TASKRUNNER, "doctor", "--json"],
                             env=self.env(SYSTEM_DEPS="gcc", TASKRUNNER_NIX_PORTABLE="/bin/true",
                                          PATH="/usr/bin:/bin"), capture_output=True, timeout=120)
        doc = validate_record(json.loads(res.stdout))
        rec = next(c for c in doc["checkpoints"] if c["id"] == "runtime")
        self.assertFalse(rec["detail"]["user_namespaces"])
        self.assertEqual(rec["status"], "warn")
        self.assertEqual(rec["detail"]["failure"], "user_namespaces_blocked")

    def test_interpreter_missing(self):
        res = self.run_tr(["--code", "1"], env=self.env(TASKRUNNER_PYTHON="/nonexistent/python3"))
        self.assertEqual(res.code, 127)
        self.expect(res, "venv", "interpreter_missing")

    def test_transient_failure_is_retried(self):
        with IndexServer(fail_files=1) as flaky:
            # The installer's own retries off (pip's and uv's), so taskrunner's retry is the one seen.
            res = self.run_tr(env=self.env(PYTHON_CODE="import six", PYTHON_DEPS="six", USE_CACHE="0",
                                           PIP_RETRIES="0", UV_HTTP_RETRIES="0",
                                           TASKRUNNER_INDEX_URL=flaky.url))
        self.assertEqual(res.code, 0, res.stderr[-3000:])
        # With uv the first download may come from `uv pip compile` (resolve_attempts) or from
        # the install of its lock (attempts): one of them was retried once.
        detail = res.record("python_deps")["detail"]
        self.assertEqual(detail["attempts"] + detail.get("resolve_attempts", 1), 3, detail)
        self.assertIn(b"retrying in 1 s", res.stderr)

    def test_persistent_transient_failure_gives_up(self):
        with IndexServer(fail_files=100) as down:
            res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="six", USE_CACHE="0", PIP_RETRIES="0",
                                           TASKRUNNER_INDEX_URL=down.url, TASKRUNNER_INSTALL_RETRIES="1"))
        self.assertEqual(res.code, 125)
        rec = self.expect(res, "python_deps", "transient_network")
        detail = rec["detail"]
        self.assertEqual(detail.get("attempts", detail.get("resolve_attempts")), 2, detail)

    def test_non_transient_failure_is_not_retried(self):
        res = self.run_tr(env=self.env(PYTHON_CODE="1", PYTHON_DEPS="nosuchpkg-once"))
        detail = res.record("python_deps")["detail"]
        # uv fails in `uv pip compile` already (resolve_attempts), pip in the install.
        self.assertEqual(detail.get("resolve_attempts", detail.get("attempts")), 1, detail)
        self.assertNotIn("attempts" if "resolve_attempts" in detail else "resolve_attempts", detail)


@unittest.skipUnless(REAL_UV, NO_REAL_UV)
class HintsRealUv(Hints):
    """Every injected failure again with the real uv: its exit codes and wording map to the same
    hints (unknown package, conflict, index down, sdist build failure, timeout, retries)."""
    uv = REAL_UV
