"""End-to-end process supervision (modelled on tini's and dumb-init's suites): exit codes,
signal forwarding, reaping as PID 1, grace periods, termination message, progress, tracing,
deadlines, exec mode, and no dependence on pidfd_open."""
import concurrent.futures
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import CHECKPOINT_IDS, TASKRUNNER, TaskrunnerTest, require, validate_record  # noqa: E402

READY = "import sys; print('ready', flush=True)\n"


class Supervision(TaskrunnerTest):
    def start(self, code, **env):
        """Starts taskrunner; returns once the user code printed 'ready'."""
        proc = subprocess.Popen([TASKRUNNER], env=self.env(PYTHON_CODE=code, **env),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = proc.stdout.readline()
        self.assertEqual(line.strip(), b"ready")
        return proc

    def finish(self, proc, timeout=30):
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out

    def test_every_exit_code_passes_through(self):
        # One warm work dir per worker thread; each run makes its own fresh venv.
        def run(code):
            work = os.path.join(self.work, f"w{code % 4}")
            res = subprocess.run([TASKRUNNER, "--code", f"import sys; sys.exit({code})"],
                                 env=self.env(TASKRUNNER_WORK_DIR=work), capture_output=True)
            return code, res.returncode
        codes = list(range(256))
        # Four lanes, each with its own work dir, run in sequence inside the lane.
        lanes = [[c for c in codes if c % 4 == i] for i in range(4)]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = [r for lane in pool.map(lambda l: [run(c) for c in l], lanes) for r in lane]
        self.assertEqual(sorted(results), [(c, c) for c in codes])

    def test_forwarded_signals_reach_the_user_code(self):
        # Unhandled: the user code dies of the signal and taskrunner exits 128+n.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                    signal.SIGUSR1, signal.SIGUSR2):
            with self.subTest(sig=sig.name):
                proc = self.start(READY + "import time; time.sleep(30)")
                proc.send_signal(sig)
                code, _ = self.finish(proc)
                self.assertEqual(code, 128 + sig)
        # Ignored by default (SIGWINCH, SIGCONT): the user code's handler proves delivery.
        for sig in (signal.SIGWINCH, signal.SIGCONT):
            with self.subTest(sig=sig.name):
                proc = self.start(
                    f"import os, signal, time\nsignal.signal({int(sig)}, lambda *a: os._exit(40))\n"
                    + READY + "time.sleep(30)")
                proc.send_signal(sig)
                code, _ = self.finish(proc)
                self.assertEqual(code, 40)

    def test_sigterm_ignored_is_killed_after_grace(self):
        proc = self.start("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                          + READY + "time.sleep(60)", TASKRUNNER_GRACE_SECONDS="1")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code, _ = self.finish(proc)
        self.assertEqual(code, 128 + signal.SIGKILL)
        self.assertLess(time.monotonic() - t0, 10)

    def test_timeout_kills_grandchildren_too(self):
        code = ("import subprocess, sys\n"
                "p = subprocess.Popen(['sleep', '300'])\n"
                "print(p.pid, flush=True)\n"
                "p.wait()\n")
        proc = subprocess.Popen([TASKRUNNER], env=self.env(PYTHON_CODE=code, TASKRUNNER_CODE_TIMEOUT="1",
                                                           TASKRUNNER_GRACE_SECONDS="1"),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        grandchild = int(proc.stdout.readline())
        rc, _ = self.finish(proc)
        self.assertEqual(rc, 124)
        self.assertFalse(os.path.exists(f"/proc/{grandchild}"), "the grandchild survived")

    def test_orphans_and_daemons_do_not_survive(self):
        # A daemon that left the process group (setsid) is reparented to taskrunner (subreaper)
        # and stopped when the step ends.
        code = ("import os, subprocess\n"
                "p = subprocess.Popen(['setsid', 'sleep', '300'])\n"
                "print(p.pid, flush=True)\n")
        res = subprocess.run([TASKRUNNER], env=self.env(PYTHON_CODE=code), capture_output=True, timeout=60)
        self.assertEqual(res.returncode, 0)
        daemon = int(res.stdout.split()[0])
        self.assertFalse(os.path.exists(f"/proc/{daemon}"), "the daemon survived")

    def test_child_sees_only_stdio(self):
        extra = os.open(os.devnull, os.O_RDONLY)  # inherited by taskrunner, not CLOEXEC
        os.set_inheritable(extra, True)
        try:
            res = subprocess.run(
                [TASKRUNNER, "--code",
                 "import os\nfds=[]\nfor fd in range(3, 1024):\n"
                 "    try: os.fstat(fd); fds.append(fd)\n    except OSError: pass\nprint(fds)"],
                env=self.env(), capture_output=True, pass_fds=(extra,))
        finally:
            os.close(extra)
        self.assertEqual(res.stdout.strip(), b"[]")

    def test_sigterm_during_python_deps_exits_143(self):
        # Stalled index: python_deps hangs until we send SIGTERM.
        from harness import IndexServer
        with IndexServer(stall=60) as slow:
            proc = subprocess.Popen([TASKRUNNER], env=self.env(PYTHON_CODE="1", PYTHON_DEPS="six",
                                                               TASKRUNNER_INDEX_URL=slow.url,
                                                               TASKRUNNER_GRACE_SECONDS="1"),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for line in proc.stderr:
                if b'"id":"python_deps"' in line and b'"status":"running"' in line:
                    break
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            proc.stderr.read()
            proc.wait(timeout=30)
        self.assertEqual(proc.returncode, 143)
        with open(os.path.join(self.work, "results", "checkpoints.json")) as fh:
            doc = validate_record(json.load(fh))
        deps = next(c for c in doc["checkpoints"] if c["id"] == "python_deps")
        self.assertEqual(deps["status"], "failed")
        self.assertEqual(deps["detail"]["reason"], "terminated")
        self.assertEqual(doc["exit_code"], 143)
        self.assertEqual([c["id"] for c in doc["checkpoints"]], CHECKPOINT_IDS)
        leftovers = [n for n in os.listdir(self.work) + os.listdir(os.path.join(self.work, "results"))
                     if ".tmp-" in n]
        self.assertEqual(leftovers, [])

    def test_termination_message(self):
        path = os.path.join(self.work, "termination-log")
        res = subprocess.run([TASKRUNNER], env=self.env(PYTHON_CODE="1", PYTHON_DEPS="nosuchpkg-" + "x" * 3000,
                                                        TASKRUNNER_TERMINATION_LOG=path), capture_output=True)
        self.assertEqual(res.returncode, 125)
        with open(path, "rb") as fh:
            raw = fh.read()
        self.assertLessEqual(len(raw), 1024)
        msg = json.loads(raw)
        self.assertEqual(msg["exit_code"], 125)
        self.assertEqual(msg["checkpoint"], "python_deps")
        self.assertTrue(msg["message"].endswith("..."))
        self.assertIn("hint", msg)
        # A spec error writes one too; a successful run writes none.
        os.unlink(path)
        res = subprocess.run([TASKRUNNER, "--dep", "$(id)", "--code", "1"],
                             env=self.env(TASKRUNNER_TERMINATION_LOG=path), capture_output=True)
        self.assertEqual(json.load(open(path))["checkpoint"], "spec")
        os.unlink(path)
        subprocess.run([TASKRUNNER, "--code", "1"], env=self.env(TASKRUNNER_TERMINATION_LOG=path), check=True,
                       capture_output=True)
        self.assertFalse(os.path.exists(path))

    def test_progress_and_trace(self):
        progress = os.path.join(self.work, "progress")
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        res = self.run_tr(["--code", "1"], env=self.env(
            ARGO_PROGRESS_FILE=progress, TRACEPARENT=f"00-{trace}-00f067aa0ba902b7-01"))
        self.assertEqual(res.code, 0)
        with open(progress) as fh:
            self.assertEqual(fh.read().strip(), "11/11")
        for ev in res.events:
            self.assertEqual(ev["trace_id"], trace)
            self.assertEqual(ev["span_id"], "00f067aa0ba902b7")
        self.assertEqual(res.checkpoints()["trace_id"], trace)
        # A malformed TRACEPARENT is ignored, never fatal.
        res = self.run_tr(["--code", "1"], env=self.env(TRACEPARENT="garbage"))
        self.assertEqual(res.code, 0)
        self.assertNotIn("trace_id", res.events[-1])

    def test_deadline_stops_user_code_in_time(self):
        deadline = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=6)
        t0 = time.monotonic()
        res = self.run_tr(["--code", "import time; time.sleep(60)"], env=self.env(
            ARGO_DEADLINE=deadline.isoformat().replace("+00:00", "Z"), TASKRUNNER_GRACE_SECONDS="1"))
        elapsed = time.monotonic() - t0
        self.assertEqual(res.code, 124)
        rec = res.record("user_code")
        self.assertEqual(rec["status"], "timeout")
        self.assertEqual(rec["detail"]["reason"], "deadline")
        self.assertLess(elapsed, 6)  # recorded before the deadline itself

    def test_bad_deadline_is_a_usage_error(self):
        res = self.run_tr(["--code", "1"], env=self.env(ARGO_DEADLINE="tomorrow"))
        self.assertEqual(res.code, 2)
        self.assertIn(b"ARGO_DEADLINE", res.stderr)

    def test_exec_mode(self):
        code = "import os, sys; print('pid', os.getpid()); sys.stderr.write('to-stderr\\n'); sys.exit(7)"
        proc = subprocess.Popen([TASKRUNNER, "run", "--exec", "--code", code], env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 7)
        self.assertEqual(out.strip(), f"pid {proc.pid}".encode())
        self.assertIn(b"to-stderr", err)
        # The shipper may still be flushing for a moment after Python exited.
        log_path = os.path.join(self.work, "results", "taskrunner.log")
        for _ in range(50):
            with open(log_path, "rb") as fh:
                log = fh.read()
            if b"to-stderr" in log and f"pid {proc.pid}".encode() in log:
                break
            time.sleep(0.1)
        self.assertIn(f"pid {proc.pid}".encode(), log)
        self.assertIn(b"to-stderr", log)
        with open(os.path.join(self.work, "results", "checkpoints.json")) as fh:
            user = validate_record(json.load(fh))["checkpoints"][-1]
        self.assertEqual(user["id"], "user_code")
        self.assertTrue(user["detail"]["exec"])

    def test_works_when_pidfd_open_is_refused(self):
        require(self, shutil.which("strace"), "strace")
        # What a seccomp profile that answers EPERM to pidfd_open looks like to the process.
        res = subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, "-e", "trace=pidfd_open",
                              "-e", "inject=pidfd_open:error=EPERM",
                              TASKRUNNER, "--code", "import sys; print('fine'); sys.exit(5)"],
                             env=self.env(), capture_output=True, timeout=120)
        self.assertEqual(res.returncode, 5, res.stderr[-2000:])
        self.assertEqual(res.stdout.strip(), b"fine")


class Pid1(TaskrunnerTest):
    """taskrunner as PID 1 of a new PID namespace, as in a local `docker run`."""

    def setUp(self):
        super().setUp()
        probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
        require(self, probe.returncode == 0,
                "unshare --pid --mount-proc (root, PID namespaces): " + probe.stderr.decode(errors="replace"))

    def test_reaps_orphans_as_pid1(self):
        code = ("import os, subprocess, time\n"
                "for _ in range(5):\n"
                "    subprocess.Popen(['sh', '-c', 'sleep 0.2 & exit 0']).wait()\n"  # orphans exit soon
                "time.sleep(1.5)\n"
                "zombies = []\n"
                "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
                "    try: stat = open(f'/proc/{pid}/stat').read()\n"
                "    except OSError: continue\n"
                "    if stat.rsplit(')', 1)[1].split()[0] == 'Z': zombies.append(pid)\n"
                "print('zombies', zombies)\n")
        res = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", TASKRUNNER, "--code", code],
                             env=self.env(), capture_output=True, timeout=120)
        self.assertEqual(res.returncode, 0, res.stderr[-2000:])
        self.assertEqual(res.stdout.strip(), b"zombies []")
        with open(os.path.join(self.work, "results", "checkpoints.json")) as fh:
            runtime = validate_record(json.load(fh))["checkpoints"][1]
        self.assertTrue(runtime["detail"]["pid1"])

    def test_signal_to_pid1_is_forwarded(self):
        proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM",
                                 TASKRUNNER, "--code", READY + "import time; time.sleep(30)"],
                                env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.assertEqual(proc.stdout.readline().strip(), b"ready")
        # unshare's --kill-child sends SIGTERM to its child (taskrunner, PID 1 inside) when unshare dies.
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(2)
        with open(os.path.join(self.work, "results", "checkpoints.json")) as fh:
            doc = validate_record(json.load(fh))
        self.assertEqual(doc.get("exit_code"), 143)
        self.assertEqual(doc["checkpoints"][-1]["detail"].get("signal"), 15)


if __name__ == "__main__":
    unittest.main()
