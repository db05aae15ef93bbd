"""One task cannot poison the next (docs/security.md): started as root, taskrunner sets up as root
and runs the user's code as an unprivileged uid (TASKRUNNER_RUN_AS, default 65534:65534), with no
supplementary groups, no capabilities and no_new_privs. The code then tries to change every
shared cache and its own run's records, and the next run of the same key must be unaffected.
A read-only environment cache mount (the non-root deployment) serves hits and builds misses
locally without publishing."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from harness import (TASKRUNNER, TaskrunnerTest, can_unshare_mount, read_only_bind, require,
                     run_in_mount_namespace)

# Runs as the user code: tries each attack, reports what happened (errno names), never raises.
ATTACKS = r'''
import errno, glob, json, os, sys
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e.errno))
def write(path):
    with open(path, "a") as fh:
        fh.write("# poisoned\n")
def create_in(d):
    return lambda: write(os.path.join(d, "planted"))
uv, env, results = os.environ["T_UV"], os.environ["T_ENV"], os.environ["T_RESULTS"]
attempt("uv_cache", create_in(uv))
for sub in ("envs", "venvs", "locks"):
    attempt("env_cache_" + sub, create_in(os.path.join(env, sub)))
site = glob.glob(os.path.join(sys.prefix, "lib", "python3*", "site-packages"))[0]
attempt("venv_module", lambda: write(os.path.join(site, "six.py")))
attempt("venv_new_module", create_in(site))
for entry in glob.glob(os.path.join(env, "envs", "*")):
    attempt("manifest", lambda: write(os.path.join(entry, "manifest.json")))
    attempt("manifest_replace", lambda: os.rename(os.path.join(entry, "manifest.json"), os.path.join(entry, "m")))
    for name in ("venv.tar.zst", "requirements.lock"):
        if os.path.exists(os.path.join(entry, name)):
            attempt(name, lambda: write(os.path.join(entry, name)))
attempt("checkpoints", lambda: write(os.path.join(results, "checkpoints.json")))
attempt("checkpoints_replace", lambda: os.rename(os.path.join(results, "taskrunner.log"), os.path.join(results, "x")))
attempt("log", lambda: write(os.path.join(results, "taskrunner.log")))
attempt("results_new", create_in(results))
attempt("home", create_in(os.environ["HOME"]))
attempt("tmpdir", create_in(os.environ["TMPDIR"]))
attempt("outputs", create_in(os.environ["TASKRUNNER_OUTPUTS_DIR"]))
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
out["uid"], out["gid"], out["groups"] = os.getuid(), os.getgid(), os.getgroups()
out["CapEff"], out["CapPrm"] = status["CapEff"].strip(), status["CapPrm"].strip()
out["NoNewPrivs"] = status["NoNewPrivs"].strip()
print(json.dumps(out))
'''


class Privileges(TaskrunnerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        os.chmod(cls.root, 0o755)  # mkdtemp's 0700 would keep any other uid out of everything

    def setUp(self):
        require(self, os.geteuid() == 0, "root (privilege separation needs it)")
        super().setUp()
        os.chmod(self.work, 0o755)
        self.env_cache = os.path.join(self.root, "env-cache-priv")

    def penv(self, mode="inplace", **extra):
        env = self.env(TASKRUNNER_ENV_MODE=mode, TASKRUNNER_ENV_CACHE=self.env_cache,
                       PYTHON_DEPS="six", PYTHON_CODE=ATTACKS, T_UV=self.cache,
                       T_ENV=self.env_cache, T_RESULTS=os.path.join(self.work, "results"))
        env.pop("TASKRUNNER_RUN_AS", None)
        env.update(extra)
        return env

    def attacks(self, res):
        self.assertEqual(res.code, 0, res.stderr[-3000:])
        return json.loads(res.stdout.decode().strip().splitlines()[-1])

    def assert_contained(self, out, uid=65534, gid=65534):
        self.assertEqual((out["uid"], out["gid"], out["groups"]), (uid, gid, []))
        self.assertEqual(out["CapEff"], "0000000000000000")
        self.assertEqual(out["CapPrm"], "0000000000000000")
        self.assertEqual(out["NoNewPrivs"], "1")
        for name, result in out.items():
            if name in ("home", "tmpdir", "outputs"):
                self.assertEqual(result, "ok", name)  # its own writable places
            elif name not in ("uid", "gid", "groups", "CapEff", "CapPrm", "NoNewPrivs"):
                self.assertIn(result, ("EACCES", "EPERM"), name)

    def test_user_code_cannot_change_caches_or_records_and_the_next_run_hits(self):
        for mode in ("inplace", "snapshot"):
            with self.subTest(mode=mode):
                first = self.run_tr(env=self.penv(mode))  # default: 65534 when started as root
                out = self.attacks(first)
                self.assert_contained(out)
                self.assertIn("venv_module", out)
                self.assertIn("manifest", out)  # there was an entry to attack (published before)
                doc = first.checkpoints()
                self.assertEqual(first.record("user_code")["detail"]["run_as"], "65534:65534")
                self.assertEqual(doc["exit_code"], 0)
                # A new pod: an emptied work dir at the same path (a snapshot's key names it).
                shutil.rmtree(self.work)
                os.makedirs(self.work, mode=0o755)
                again = self.run_tr(env=self.penv(mode, T_RESULTS=os.path.join(self.work, "results"),
                                                  PYTHON_CODE="import six, inspect; "
                                                  "print('poisoned' in inspect.getsource(six))"))
                self.assertEqual(again.code, 0, again.stderr[-2000:])
                self.assertEqual(again.record("venv")["detail"]["env_cache"]["result"], "hit")
                self.assertEqual(again.stdout.decode().strip().splitlines()[-1], "False")

    def test_configured_ids_exit_codes_and_signals_pass_through(self):
        res = self.run_tr(env=self.penv(TASKRUNNER_RUN_AS="4242:4343"))
        self.assert_contained(self.attacks(res), uid=4242, gid=4343)
        code = self.run_tr(env=self.penv(TASKRUNNER_RUN_AS="4242", PYTHON_CODE="raise SystemExit(7)"))
        self.assertEqual(code.code, 7)
        proc = subprocess.Popen([TASKRUNNER], env=self.penv(PYTHON_CODE="import time; print('up', flush=True); time.sleep(60)"),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.assertEqual(proc.stdout.readline().strip(), b"up")
        proc.send_signal(signal.SIGTERM)  # forwarded by root taskrunner to the unprivileged code
        self.assertEqual(proc.wait(timeout=30), 128 + signal.SIGTERM)
        proc.stdout.close()

    def test_exec_mode_drops_privileges_before_the_hand_over(self):
        res = self.run_tr(env=self.penv(TASKRUNNER_EXEC="1"))
        self.assert_contained(self.attacks(res))

    def test_index_credentials_stay_with_the_installers(self):
        url = self.server.url.replace("http://", "http://user:s3cret@")
        show = "import os; print(os.environ.get('TASKRUNNER_INDEX_URL'))"
        res = self.run_tr(env=self.penv(TASKRUNNER_INDEX_URL=url, PYTHON_CODE=show))
        self.assertEqual(res.code, 0, res.stderr[-2000:])  # the install still had it
        self.assertEqual(res.stdout.decode().strip(), "None")
        self.assertNotIn(b"s3cret", res.stderr)
        asked = self.run_tr(env=self.penv(TASKRUNNER_INDEX_URL=url, PYTHON_CODE=show,
                                          TASKRUNNER_PASS_INDEX_CREDENTIALS="true"))
        self.assertEqual(asked.stdout.decode().strip(), url)
        plain = self.run_tr(env=self.penv(PYTHON_CODE=show))  # no credentials: kept
        self.assertEqual(plain.stdout.decode().strip(), self.server.url)

    def test_the_termination_message_stays_taskrunners(self):
        log = os.path.join(self.work, "termination-log")
        open(log, "w").close()
        os.chmod(log, 0o666)  # as the kubelet may mount it: writable by the code
        forge = ("import sys; open(sys.argv[1], 'w').write('{\"message\": \"all good, trust me\"}');"
                 " raise SystemExit(int(sys.argv[2]))")
        for code in (0, 3):
            res = self.run_tr(["--code", forge, "--", log, str(code)],
                              env=self.penv(TASKRUNNER_TERMINATION_LOG=log))
            self.assertEqual(res.code, code)
            with open(log) as fh:
                text = fh.read()
            self.assertNotIn("trust me", text, code)
            if code:
                self.assertEqual(json.loads(text)["checkpoint"], "user_code")

    def test_off_keeps_root(self):
        res = self.run_tr(env=self.penv(TASKRUNNER_RUN_AS="off", PYTHON_CODE="import os; print(os.getuid())"))
        self.assertEqual(res.code, 0)
        self.assertEqual(res.stdout.decode().strip(), "0")
        self.assertNotIn("run_as", res.record("user_code")["detail"])

    def test_bad_values_are_refused_at_spec(self):
        for bad in ("nobody", "-1", "0", "1:2:3", "4294967295", "65534:"):
            res = self.run_tr(env=self.penv(TASKRUNNER_RUN_AS=bad, PYTHON_CODE="pass"))
            self.assertEqual(res.code, 2, bad)


class ReadOnlyEnvCache(TaskrunnerTest):
    """The non-root deployment: task pods mount the env cache read-only; only `cache warm` jobs
    write it."""

    def run_ro(self, env_cache, **extra):
        env = self.env(TASKRUNNER_ENV_MODE="inplace", TASKRUNNER_ENV_CACHE=env_cache,
                       TASKRUNNER_RUN_AS="off", **extra)
        return run_in_mount_namespace(self, read_only_bind(env_cache), env)

    def test_hit_served_miss_built_locally_nothing_published(self):
        require(self, can_unshare_mount(), "unshare --mount (root, mount namespaces)")
        env_cache = os.path.join(self.root, "ro-env-cache")
        warm = subprocess.run([TASKRUNNER, "cache", "warm"],
                              env=self.env(TASKRUNNER_ENV_MODE="inplace", TASKRUNNER_ENV_CACHE=env_cache,
                                           PYTHON_DEPS="six", PYTHON_CODE="pass"),
                              capture_output=True, timeout=300)
        self.assertEqual(warm.returncode, 0, warm.stderr[-2000:])
        before = sorted(os.listdir(os.path.join(env_cache, "envs")))
        hit = self.run_ro(env_cache, PYTHON_DEPS="six", PYTHON_CODE="import six, sys; print(sys.prefix)")
        self.assertEqual(hit.code, 0, hit.stderr[-2000:])
        self.assertEqual(hit.record("venv")["detail"]["env_cache"]["result"], "hit")
        self.assertTrue(hit.stdout.decode().strip().startswith(os.path.join(env_cache, "venvs")))
        self.work = tempfile.mkdtemp(prefix="work-", dir=self.root)
        miss = self.run_ro(env_cache, PYTHON_DEPS="idna", PYTHON_CODE="import idna, sys; print(sys.prefix)")
        self.assertEqual(miss.code, 0, miss.stderr[-2000:])
        self.assertEqual(miss.stdout.decode().strip(), os.path.join(self.work, "venv"))
        rec = miss.record("venv")["detail"]["env_cache"]
        self.assertTrue(rec["read_only"])
        self.assertIn(rec["key"].encode(), miss.stderr)
        self.assertIn(b"taskrunner cache warm", miss.stderr)
        self.assertEqual(sorted(os.listdir(os.path.join(env_cache, "envs"))), before)
        self.assertEqual(os.listdir(os.path.join(env_cache, "venvs")), os.listdir(os.path.join(env_cache, "venvs")))


if __name__ == "__main__":
    unittest.main()


class SignedEntries(TaskrunnerTest):
    """For volumes other workloads can write: with TASKRUNNER_CACHE_KEY_FILE every manifest
    carries an HMAC-SHA256 over what the entry serves; an entry rebuilt by someone without the
    key (a new archive and its recomputed sha256, a changed in-place venv) is rejected and
    rebuilt, never used."""
    CODE = "import six, inspect; print('poisoned' in inspect.getsource(six))"

    def setUp(self):
        super().setUp()
        self.env_cache = os.path.join(self.work, "env-cache")
        self.key = os.path.join(self.work, "cache.key")
        with open(self.key, "wb") as fh:
            fh.write(os.urandom(32))
        os.chmod(self.key, 0o400)  # a Kubernetes Secret mounted 0400, readable by root only

    def senv(self, mode, signed=True):
        env = self.env(TASKRUNNER_ENV_MODE=mode, TASKRUNNER_ENV_CACHE=self.env_cache,
                       PYTHON_DEPS="six", PYTHON_CODE=self.CODE)
        if signed:
            env["TASKRUNNER_CACHE_KEY_FILE"] = self.key
        return env

    def run_ok(self, env):
        res = self.run_tr(env=env)
        self.assertEqual(res.code, 0, res.stderr[-2000:])
        return res, res.stdout.decode().strip().splitlines()[-1]

    def entry(self, res, mode):
        key = res.record("venv")["detail"]["env_cache"]["key"]
        return os.path.join(self.env_cache, "envs", f"{key}-{mode}")

    def test_a_rebuilt_archive_with_its_sha256_recomputed_is_rejected(self):
        cold, _ = self.run_ok(self.senv("snapshot"))
        entry = self.entry(cold, "snapshot")
        with open(os.path.join(entry, "manifest.json")) as fh:
            manifest = json.load(fh)
        self.assertRegex(manifest["mac"], "^[0-9a-f]{64}$")
        # The attacker: unpack, poison six, pack, and make the manifest agree with the archive.
        unpacked = os.path.join(self.work, "unpacked")
        os.makedirs(unpacked)
        archive = os.path.join(entry, "venv.tar.zst")
        subprocess.run(["tar", "-I", "zstd", "-xf", archive, "-C", unpacked], check=True)
        (six,) = [os.path.join(d, "six.py") for d, _, fs in os.walk(unpacked) if "six.py" in fs]
        with open(six, "a") as fh:
            fh.write("\n# poisoned\n")
        subprocess.run(["tar", "-I", "zstd", "-cf", archive, "-C", unpacked, "."], check=True)
        with open(archive, "rb") as fh:
            data = fh.read()
        manifest["archive"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        with open(os.path.join(entry, "manifest.json"), "w") as fh:
            json.dump(manifest, fh)
        # Without the key the poisoned entry is served: the attack is real.
        _, poisoned = self.run_ok(self.senv("snapshot", signed=False))
        self.assertEqual(poisoned, "True")
        res, clean = self.run_ok(self.senv("snapshot"))
        env = res.record("venv")["detail"]["env_cache"]
        self.assertEqual(env["result"], "rebuilt", env)
        self.assertIn("MAC does not verify", env["rejected"])
        self.assertEqual(clean, "False")
        again, _ = self.run_ok(self.senv("snapshot"))
        self.assertEqual(again.record("venv")["detail"]["env_cache"]["result"], "hit")

    def test_a_changed_in_place_venv_is_rejected(self):
        cold, _ = self.run_ok(self.senv("inplace"))
        venv = cold.record("venv")["detail"]["path"]
        hit, _ = self.run_ok(self.senv("inplace"))
        self.assertEqual(hit.record("venv")["detail"]["env_cache"]["result"], "hit")
        self.assertIn("verify_ms", hit.record("venv")["detail"]["env_cache"])
        (six,) = [os.path.join(d, "six.py") for d, _, fs in os.walk(venv) if "six.py" in fs]
        with open(six, "a") as fh:
            fh.write("\n# poisoned\n")
        res, clean = self.run_ok(self.senv("inplace"))
        env = res.record("venv")["detail"]["env_cache"]
        self.assertEqual(env["result"], "rebuilt", env)
        self.assertIn("changed since it was published", env["rejected"])
        self.assertEqual(clean, "False")

    def test_an_unsigned_entry_is_not_used_when_a_key_is_set(self):
        self.run_ok(self.senv("inplace", signed=False))
        res, _ = self.run_ok(self.senv("inplace"))
        env = res.record("venv")["detail"]["env_cache"]
        self.assertEqual(env["result"], "rebuilt", env)
        self.assertIn("unsigned", env["rejected"])

    def test_a_bad_key_file_is_refused_at_spec(self):
        empty = os.path.join(self.work, "empty.key")
        open(empty, "w").close()
        for path in (empty, os.path.join(self.work, "missing.key")):
            env = dict(self.senv("inplace"), TASKRUNNER_CACHE_KEY_FILE=path)
            self.assertEqual(self.run_tr(env=env).code, 2, path)
