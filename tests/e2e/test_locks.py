"""The resolved lock of every run, pinned reruns and the lock as the cache key (docs/locks.md).

Each class gets its own copy of the loopback index, so a test can publish a newer version of a
distribution (a real wheel: Debian's six, its metadata rewritten to the new version) and see what
an unpinned request and a pinned rerun then install. Run with pip (the fall-back), with
uv-test-double and, when it is there, with the real uv."""
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import zipfile

from harness import (INDEX_DIR, NO_REAL_UV, REAL_UV, TASKRUNNER, UV_DOUBLE, IndexServer,
                     TaskrunnerTest, clean_env)

SHOW = ("import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))")


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def publish_version(index, name, new_version):
    """Adds `name` `new_version` to the index copy: the existing wheel with its dist-info renamed
    and METADATA/RECORD rewritten, linked from the simple page with its sha256."""
    files = os.path.join(index, "files")
    old = next(f for f in sorted(os.listdir(files)) if f.startswith(name + "-") and f.endswith(".whl"))
    old_version = old.split("-")[1]
    new = old.replace(f"-{old_version}-", f"-{new_version}-")
    old_info, new_info = f"{name}-{old_version}.dist-info/", f"{name}-{new_version}.dist-info/"
    with zipfile.ZipFile(os.path.join(files, old)) as src, \
            zipfile.ZipFile(os.path.join(files, new), "w", zipfile.ZIP_DEFLATED) as dst:
        records = []
        for item in src.infolist():
            data = src.read(item)
            path = item.filename.replace(old_info, new_info)
            if path.endswith("/RECORD"):
                continue
            if path.endswith("/METADATA"):
                data = re.sub(rb"(?m)^Version: .*$", f"Version: {new_version}".encode(), data)
            dst.writestr(path, data)
            records.append(record_line(path, data))
        records.append(f"{new_info}RECORD,,")
        dst.writestr(new_info + "RECORD", "\n".join(records) + "\n")
    with open(os.path.join(files, new), "rb") as fh:
        sha = hashlib.sha256(fh.read()).hexdigest()
    page = os.path.join(index, "simple", name, "index.html")
    with open(page) as fh:
        html = fh.read()
    link = f'<a href="../../files/{new}#sha256={sha}">{new}</a><br>\n'
    with open(page, "w") as fh:
        fh.write(html.replace("</body>", link + "</body>"))
    return sha


def file_sha256(index, filename):
    with open(os.path.join(index, "files", filename), "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def pins(lock_text):
    """{name: (version, [hashes])} of a lock's body."""
    out = {}
    for line in lock_text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        req, *opts = line.split()
        name, version = req.split("==")
        out[name] = (version, sorted(o.split("=", 1)[1] for o in opts))
    return out


class Locks(TaskrunnerTest):
    uv = UV_DOUBLE

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="taskrunner-e2e-")
        cls.cache = os.path.join(cls.root, "uv-cache")
        cls.index = os.path.join(cls.root, "index")
        shutil.copytree(INDEX_DIR, cls.index)
        cls.server = IndexServer(root=cls.index).__enter__()

    def setUp(self):
        super().setUp()
        # Every test starts from the index as Debian's packages built it.
        shutil.rmtree(self.index)
        shutil.copytree(INDEX_DIR, self.index)
        shutil.rmtree(self.cache, ignore_errors=True)
        self.env_cache = os.path.join(self.work, "env-cache")

    def fresh_work(self):
        self.work = tempfile.mkdtemp(prefix="work-", dir=self.root)

    def run_task(self, deps="requests", lock=None, mode="off", **extra):
        self.fresh_work()
        env = self.env(PYTHON_CODE=SHOW, TASKRUNNER_ENV_MODE=mode,
                       TASKRUNNER_ENV_CACHE=self.env_cache, **extra)
        if deps is not None:
            env["PYTHON_DEPS"] = deps
        if lock is not None:
            path = os.path.join(self.work, "input.lock")
            with open(path, "w") as fh:
                fh.write(lock)
            env["REQUIREMENTS_LOCK"] = path
        return self.run_tr(env=env)

    def ok(self, res):
        self.assertEqual(res.code, 0, res.stderr[-3000:].decode(errors="replace"))
        installed = json.loads(res.stdout.decode().strip().splitlines()[-1])
        with open(os.path.join(res.results, "requirements.lock")) as fh:
            lock = fh.read()
        return installed, lock

    def test_lock_of_a_run_pins_a_rerun_after_the_index_moved_on(self):
        first = self.run_task()
        installed, lock = self.ok(first)
        p = pins(lock)
        self.assertEqual(installed["six"], "1.16.0")
        self.assertEqual(p["six"], ("1.16.0", ["sha256:" + file_sha256(self.index, "six-1.16.0-py3-none-any.whl")]))
        for name, version in installed.items():
            if name not in ("pip", "setuptools"):
                self.assertEqual(p[name][0], version, name)
        self.assertIn("# python: 3.11", lock)
        self.assertIn(f"# index: {self.server.url}", lock)
        rec = first.record("python_deps")["detail"]["lock"]
        self.assertEqual(rec["distributions"], len(p))
        self.assertRegex(rec["digest"], "^[0-9a-f]{64}$")

        new_sha = publish_version(self.index, "six", "1.17.0")
        # uv keeps the index page as long as HTTP caching allows (our server sends no
        # Cache-Control; PyPI 10 minutes): a new pod with an expired cache sees 1.17.0.
        shutil.rmtree(self.cache, ignore_errors=True)
        moved, moved_lock = self.ok(self.run_task())
        self.assertEqual(moved["six"], "1.17.0")
        self.assertEqual(pins(moved_lock)["six"], ("1.17.0", ["sha256:" + new_sha]))

        pinned = self.run_task(lock=lock)
        again, again_lock = self.ok(pinned)
        self.assertEqual(again["six"], "1.16.0")
        self.assertEqual(pins(again_lock), p)  # same name==version, same file hashes
        self.assertEqual(pinned.record("python_deps")["detail"]["lock"]["digest"], rec["digest"])
        self.assertTrue(pinned.record("python_deps")["detail"]["pinned"])

    def test_a_tampered_hash_fails_at_python_deps_naming_the_distribution(self):
        _, lock = self.ok(self.run_task())
        sha = file_sha256(self.index, "six-1.16.0-py3-none-any.whl")
        bad = lock.replace(sha, hashlib.sha256(b"not six").hexdigest())
        shutil.rmtree(self.cache, ignore_errors=True)  # the file must really be fetched again
        res = self.run_task(lock=bad)
        self.assertEqual(res.code, 125, res.stderr[-2000:])
        rec = res.record("python_deps")
        self.assertEqual(rec["status"], "failed")
        self.assertEqual(rec["detail"]["failure"], "hash_mismatch")
        self.assertIn("six==1.16.0", rec["detail"]["package"])
        self.assertIn("six", rec["error"]["message"])

    def test_a_distribution_missing_from_the_index_fails_named(self):
        _, lock = self.ok(self.run_task(deps="six"))
        gone = lock.replace("six==1.16.0", "six==1.15.9")
        res = self.run_task(deps="six", lock=gone)
        self.assertEqual(res.code, 125, res.stderr[-2000:])
        rec = res.record("python_deps")
        self.assertEqual(rec["detail"]["failure"], "unknown_package")
        self.assertIn("six==1.15.9", rec["detail"]["package"])

    def test_a_lock_for_another_python_fails_before_any_install(self):
        _, lock = self.ok(self.run_task(deps="six"))
        res = self.run_task(deps="six", lock=re.sub(r"(?m)^# python: .*$", "# python: 2.7.18", lock))
        self.assertEqual(res.code, 125)
        rec = res.record("python_deps")
        self.assertEqual(rec["detail"]["failure"], "lock_mismatch")
        self.assertIn("2.7.18", rec["error"]["message"])
        self.assertNotIn("attempts", rec["detail"])

    def test_bad_locks_are_refused_at_spec(self):
        sha = file_sha256(self.index, "six-1.16.0-py3-none-any.whl")
        for text, words in ((f"six>=1.0 --hash=sha256:{sha}\n", "not a pin"),
                            ("six==1.16.0\n", "no --hash"),
                            (f"six==1.16.0 --hash=md5:{sha[:32]}\n", "sha256"),
                            (f"six==1.16.0 --hash=sha256:{sha}\nsix==1.16.0 --hash=sha256:{sha}\n", "twice"),
                            (f"six==1.16.0 --hash=sha256:{sha}\n", "does not pin 'requests'")):
            res = self.run_task(deps="requests", lock=text)
            self.assertEqual(res.code, 2, text)
            spec = next(e for e in res.events if e["id"] == "spec" and e["status"] == "failed")
            self.assertEqual(spec["detail"]["field"], "REQUIREMENTS_LOCK")
            self.assertIn(words, spec["error"]["message"])

    def test_equal_locks_share_one_entry_and_a_hit_writes_the_lock(self):
        _, lock_a = self.ok(self.run_task(deps="requests"))
        _, lock_b = self.ok(self.run_task(deps="idna requests"))
        self.assertEqual(pins(lock_a), pins(lock_b))
        a = self.run_task(deps="requests", lock=lock_a, mode="inplace")
        self.ok(a)
        b = self.run_task(deps="idna, requests", lock=lock_b, mode="inplace")
        installed, hit_lock = self.ok(b)
        env_a = a.record("python_deps")["detail"]["env_cache"]
        env_b = b.record("venv")["detail"]["env_cache"]
        self.assertEqual(env_a["result"], "miss")
        self.assertEqual(env_b["result"], "hit")
        self.assertEqual(env_a["key"], env_b["key"])
        self.assertEqual(pins(hit_lock), pins(lock_a))
        self.assertEqual(b.record("python_deps")["detail"]["lock"]["source"], "env cache")
        # The unpinned request has its own entry (keyed by the request).
        c = self.run_task(deps="requests", mode="inplace")
        self.ok(c)
        self.assertNotEqual(c.record("venv")["detail"]["env_cache"]["key"], env_a["key"])
        status = json.loads(subprocess.run(
            [TASKRUNNER, "cache", "status", "--json"], env=self.env(TASKRUNNER_ENV_CACHE=self.env_cache),
            stdout=subprocess.PIPE, check=True).stdout)["entries"]
        locks = {e["key"]: e["lock"] for e in status}
        self.assertTrue(locks[env_a["key"]]["pinned"])
        self.assertFalse(locks[c.record("venv")["detail"]["env_cache"]["key"]]["pinned"])
        for lk in locks.values():
            self.assertEqual(lk["digest"], a.record("python_deps")["detail"]["lock"]["digest"])
            self.assertRegex(lk["resolved_at"], r"^\d{4}-\d\d-\d\dT.*Z$")

    def test_resolve_max_age_renews_an_unchanged_resolution_and_rebuilds_a_changed_one(self):
        first = self.run_task(deps="six", mode="inplace")
        self.ok(first)
        key = first.record("venv")["detail"]["env_cache"]["key"]
        manifest = os.path.join(self.env_cache, "envs", f"{key}-inplace", "manifest.json")
        with open(manifest) as fh:
            resolved_0 = json.load(fh)["resolved_at"]
        time.sleep(1.2)
        same = self.run_task(deps="six", mode="inplace", TASKRUNNER_RESOLVE_MAX_AGE="1")
        installed, _ = self.ok(same)
        env = same.record("venv")["detail"]["env_cache"]
        self.assertEqual(env["result"], "hit", env)
        self.assertEqual(env["re_resolved"]["changed"], False)
        self.assertTrue(env["re_resolved"]["renewed"])
        with open(manifest) as fh:
            self.assertGreater(json.load(fh)["resolved_at"], resolved_0)
        # Within the age: no resolution at all.
        young = self.run_task(deps="six", mode="inplace", TASKRUNNER_RESOLVE_MAX_AGE="3600")
        self.ok(young)
        self.assertNotIn("re_resolved", young.record("venv")["detail"]["env_cache"])

        publish_version(self.index, "six", "1.17.0")
        time.sleep(1.2)
        moved = self.run_task(deps="six", mode="inplace", TASKRUNNER_RESOLVE_MAX_AGE="1")
        installed, lock = self.ok(moved)
        env = moved.record("venv")["detail"]["env_cache"]
        self.assertEqual(env["result"], "rebuilt", env)
        self.assertTrue(env["re_resolved"]["changed"])
        self.assertEqual(installed["six"], "1.17.0")
        self.assertEqual(pins(lock)["six"][0], "1.17.0")
        self.assertEqual(moved.record("python_deps")["detail"]["env_cache"]["key"], key)
        # The next run hits the new entry.
        after = self.run_task(deps="six", mode="inplace")
        installed, _ = self.ok(after)
        self.assertEqual(after.record("venv")["detail"]["env_cache"]["result"], "hit")
        self.assertEqual(installed["six"], "1.17.0")

    def test_the_lock_installs_with_debians_pip_outside_taskrunner(self):
        _, lock = self.ok(self.run_task(deps="requests jsonschema"))
        path = os.path.join(self.work, "requirements.lock")
        with open(path, "w") as fh:
            fh.write(lock)
        venv = os.path.join(self.work, "outside")
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", venv], check=True)
        env = clean_env(PIP_INDEX_URL=self.server.url, PIP_NO_CACHE_DIR="1")
        p = subprocess.run(["/usr/bin/python3", "-m", "pip", "--python", os.path.join(venv, "bin", "python"),
                            "install", "--require-hashes", "--no-deps", "-r", path],
                           env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        out = subprocess.run([os.path.join(venv, "bin", "python"), "-c", SHOW], capture_output=True,
                             text=True, check=True).stdout
        installed = json.loads(out)
        for name, (version, _) in pins(lock).items():
            self.assertEqual(installed[name], version, name)


class LocksPip(Locks):
    """The pip fall-back: the lock comes from `pip install --report`."""
    uv = None


@unittest.skipUnless(REAL_UV, NO_REAL_UV)
class LocksRealUv(Locks):
    """The real uv: `uv pip compile --generate-hashes`, then `uv pip install --require-hashes`."""
    uv = REAL_UV


if __name__ == "__main__":
    unittest.main()
