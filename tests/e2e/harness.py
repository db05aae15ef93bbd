"""Shared pieces of the end-to-end tests: the loopback index server and a runner for the real
taskrunner binary with an isolated environment."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest


# Tests and benchmarks run with Debian's interpreter only, never one found on the machine.
DEBIAN_PYTHON = "/usr/bin/python3"
if os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON):
    raise SystemExit(f"harness: run with Debian's {DEBIAN_PYTHON}, not {sys.executable} "
                     "(tests/test-python.sh; tests/install-deps.sh installs it)")
import jsonschema  # noqa: E402  (Debian's python3-jsonschema)

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
TASKRUNNER = os.environ.get("TASKRUNNER_BIN", os.path.join(TESTS, "..", "build", "taskrunner"))
INDEX_DIR = os.environ.get("TASKRUNNER_TEST_INDEX", os.path.join(TESTS, "..", "build", "test-index"))
UV_DOUBLE = os.path.join(TESTS, "doubles", "uv-test-double")


def find_real_uv():
    """A real uv for the uv runs: TASKRUNNER_TEST_UV, else ../shared/tools/uv/bin/uv beside the
    repository (uv 0.11.28, see its README), else `uv` on PATH; None when there is none (a
    newcomer's fresh clone): those runs are then reported skipped by CTest, never passed."""
    for candidate in (os.environ.get("TASKRUNNER_TEST_UV"),
                      os.path.join(TESTS, "..", "..", "shared", "tools", "uv", "bin", "uv"),
                      shutil.which("uv")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    return None


REAL_UV = find_real_uv()
NO_REAL_UV = ("no real uv (TASKRUNNER_TEST_UV, ../shared/tools/uv/bin/uv or uv on PATH): "
              "the uv path ran only against uv-test-double")
sys.path.insert(0, TESTS)
from docs_test import checkpoint_table  # noqa: E402  (the code's one table: report::kCheckpoints)
CHECKPOINT_IDS = [row["name"] for row in checkpoint_table()]
assert len(CHECKPOINT_IDS) == 11, CHECKPOINT_IDS
STATUSES = {"running", "ok", "warn", "failed", "skipped", "timeout"}
with open(os.path.join(TESTS, "..", "docs", "checkpoint.schema.json")) as _fh:
    SCHEMA = json.load(_fh)
jsonschema.Draft202012Validator.check_schema(SCHEMA)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def validate_record(record):
    """Every record any test sees must match docs/checkpoint.schema.json."""
    VALIDATOR.validate(record)
    return record


class IndexServer:
    """tests/fixtures/index_server.py on 127.0.0.1, for the lifetime of a `with` block."""

    def __init__(self, stall=0, fail_files=0, lifetime=1200, root=None):
        self.root = root or INDEX_DIR  # a copy when a test adds versions (test_locks.py)
        self.stall = stall
        self.fail_files = fail_files
        self.lifetime = lifetime  # seconds; the server exits by itself after this (no strays)

    def __enter__(self):
        cmd = [sys.executable, os.path.join(TESTS, "fixtures", "index_server.py"), self.root,
               "--lifetime", str(self.lifetime)]
        if self.stall:
            cmd += ["--stall", str(self.stall)]
        if self.fail_files:
            cmd += ["--fail-files", str(self.fail_files)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/simple"
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class Result:
    def __init__(self, proc, stdout, stderr, work, results, elapsed):
        self.code = proc.returncode
        self.stdout = stdout
        self.stderr = stderr
        self.work = work
        self.results = results
        self.elapsed = elapsed
        self.event_lines = [l for l in stderr.split(b"\n") if b'"event":"taskrunner.checkpoint"' in l]
        self.events = [json.loads(l) for l in self.event_lines]

    def checkpoints(self):
        with open(os.path.join(self.results, "checkpoints.json")) as fh:
            doc = json.load(fh)
        validate_record(doc)
        return doc

    def record(self, cid):
        return next(c for c in self.checkpoints()["checkpoints"] if c["id"] == cid)

    def log(self):
        with open(os.path.join(self.results, "taskrunner.log"), "rb") as fh:
            return fh.read()


def in_parallel(n, fn):
    """Runs fn(0) … fn(n-1) at the same time, one thread each; returns their results in order."""
    results = [None] * n

    def call(i):
        results[i] = fn(i)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def require(test, ok, what):
    """A test that needs a tool or a root feature fails, naming it, where it is missing: the
    suite runs as root after tests/install-deps.sh, so a skip there would only hide a gap."""
    if not ok:
        test.fail(f"this test needs {what}: run the suite as root after tests/install-deps.sh")


def can_unshare_mount():
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


def read_only_bind(path):
    """Shell commands (for run_in_mount_namespace) that make `path` a read-only bind of itself."""
    return f"mount --bind {path} {path} && mount -o remount,bind,ro {path}"


def run_in_mount_namespace(test, setup, env, args=()):
    """Runs taskrunner with `args` after `setup` (mount commands, as root) in a private mount
    namespace, so the mounts vanish with it."""
    proc = subprocess.run(["unshare", "--mount", "sh", "-c", setup + ' && exec "$0" "$@"', TASKRUNNER,
                           *args], env=env, capture_output=True, timeout=300)
    return Result(proc, proc.stdout, proc.stderr, test.work, os.path.join(test.work, "results"), 0)


def clean_env(**extra):
    """The environment of a pod: no pip/uv configuration from this machine leaks in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "TASKRUNNER_", "PYTHON", "VIRTUAL_ENV", "ARGO_"))
           and k not in ("REQUIREMENTS", "REQUIREMENTS_FILE", "SYSTEM_DEPS", "USE_CACHE")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env.update(extra)
    return env


class TaskrunnerTest(unittest.TestCase):
    """Base: one index server and one cache dir per class, one work dir per test."""
    stall = 0
    uv = None  # path of a uv binary (or the test double) to use; None = pip fallback

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="taskrunner-e2e-")
        cls.cache = os.path.join(cls.root, "uv-cache")
        cls.server = IndexServer(cls.stall).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root, ignore_errors=True)

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="work-", dir=self.root)

    def env(self, **extra):
        # The environment cache is off unless a test asks for it (test_env_cache.py), so each
        # test's install really runs; its root is per class, never the machine's default.
        base = dict(TASKRUNNER_WORK_DIR=self.work, UV_CACHE_DIR=self.cache,
                    TASKRUNNER_ENV_MODE="off", TASKRUNNER_ENV_CACHE=os.path.join(self.root, "env-cache"),
                    TASKRUNNER_INDEX_URL=self.server.url, TASKRUNNER_PYTHON=sys.executable,
                    TASKRUNNER_TOOLS_DIR=os.path.join(self.root, "no-tools"),
                    # The suite runs as root in 0700 temp dirs: the code stays root unless a
                    # test asks for the separation (test_privileges.py runs the default).
                    TASKRUNNER_RUN_AS="off")
        if self.uv:
            base["TASKRUNNER_UV"] = self.uv
        base.update(extra)
        return clean_env(**base)

    def run_tr(self, args=(), env=None, timeout=600, stdout=None, stdin=subprocess.DEVNULL):
        env = env if env is not None else self.env()
        t0 = time.monotonic()
        proc = subprocess.run([TASKRUNNER, *args], env=env, stdin=stdin,
                              stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)
        res = Result(proc, proc.stdout, proc.stderr, self.work,
                     env.get("TASKRUNNER_RESULTS_DIR", os.path.join(self.work, "results")),
                     time.monotonic() - t0)
        self.check_records(res)
        # The log file holds the same event lines.
        log = os.path.join(res.results, "taskrunner.log")
        if os.path.exists(log):
            with open(log, "rb") as fh:
                for line in fh.read().split(b"\n"):
                    if b'"event":"taskrunner.checkpoint"' in line:
                        validate_record(json.loads(line))
        return res

    def check_records(self, res):
        """Every emitted record parses, fits in 4 KiB and has the documented fields."""
        for line, ev in zip(res.event_lines, res.events):
            self.assertLessEqual(len(line), 4096)
            validate_record(ev)
            for field in ("time", "level", "msg", "event", "seq", "of", "id", "status",
                          "duration_ms", "detail"):
                self.assertIn(field, ev)
            self.assertEqual(ev["of"], 11)
            self.assertEqual(CHECKPOINT_IDS[ev["seq"] - 1], ev["id"])
            self.assertIn(ev["status"], STATUSES)
            self.assertTrue(ev["time"].endswith("Z"))
            if ev["status"] in ("failed", "timeout"):
                self.assertIn("message", ev["error"])
                self.assertIn("hint", ev["error"])

    def assert_all_checkpoints(self, res):
        doc = res.checkpoints()
        self.assertEqual([c["id"] for c in doc["checkpoints"]], CHECKPOINT_IDS)
        for c in doc["checkpoints"]:
            self.assertNotEqual(c["status"], "running", c)
        self.assertEqual(doc["exit_code"], res.code)
        return doc
