"""uv, end to end: the argv/env contract taskrunner keeps with uv and the CLI behaviour it relies
on, each checked against uv-test-double and the real uv (through uv-call-recorder); what only a
real uv shows: how its files reach the venv (UV_LINK_MODE as taskrunner chooses it, checked by
inode and extent), and a uv cache on a network file system (sshfs)."""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import mounts
from harness import NO_REAL_UV, REAL_UV, TESTS, UV_DOUBLE, IndexServer, TaskrunnerTest, require

UV_RECORDER = os.path.join(TESTS, "doubles", "uv-call-recorder")

DEPS = "six PyYAML"
CODE = "import six, yaml; print(six.__file__)"


def site_file(venv, pattern):
    """The one file of the venv's site-packages matching `pattern`."""
    found = glob.glob(os.path.join(venv, "lib", "python3*", "site-packages", pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def twins(cache, path):
    """Files in the uv cache with the same name and bytes as `path`."""
    with open(path, "rb") as fh:
        data = fh.read()
    out = []
    for d, _, files in os.walk(cache):
        for f in files:
            p = os.path.join(d, f)
            if f == os.path.basename(path) and os.path.getsize(p) == len(data):
                with open(p, "rb") as fh:
                    if fh.read() == data:
                        out.append(p)
    return out


def shared_extents(path):
    """FIEMAP (e2fsprogs' filefrag) reports the file's data as shared with another file."""
    out = subprocess.run(["filefrag", "-v", path], stdout=subprocess.PIPE, check=True, text=True)
    return any("shared" in line.split()[-1] for line in out.stdout.splitlines()[3:]
               if ":" in line)


@unittest.skipUnless(REAL_UV, NO_REAL_UV)
class LinkModesRealUv(TaskrunnerTest):
    """UV_LINK_MODE follows the file systems of the uv cache and of the venv's directory."""
    uv = REAL_UV

    def install(self, work, cache, **extra):
        res = self.run_tr(env=self.env(TASKRUNNER_WORK_DIR=work, UV_CACHE_DIR=cache,
                                       TASKRUNNER_RESULTS_DIR=os.path.join(work, "results"),
                                       PYTHON_DEPS=DEPS, PYTHON_CODE=CODE,
                                       TASKRUNNER_MIN_FREE_MB="64", **extra))
        self.assertEqual(res.code, 0, res.stderr.decode(errors="replace")[-3000:])
        venv = res.record("venv")["detail"]
        return venv, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
            res.stdout.decode().strip()))))

    def loop(self, fstype):
        require(self, mounts.loop_available(fstype), f"mkfs for {fstype} and loop devices (root)")
        fs = mounts.LoopFs(fstype, 400)
        mnt = fs.__enter__()
        self.addCleanup(fs.__exit__, None, None, None)
        return mnt

    def shm_dir(self):
        require(self, os.path.isdir("/dev/shm"), "a tmpfs at /dev/shm")
        d = tempfile.mkdtemp(prefix="taskrunner-e2e-work-", dir="/dev/shm")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_hardlink_on_one_file_system_without_reflinks(self):
        mnt = self.loop("ext4")
        cache = os.path.join(mnt, "uv-cache")
        detail, venv = self.install(os.path.join(mnt, "work"), cache)
        self.assertEqual(detail["uv_link_mode"], "hardlink", detail)
        six = site_file(venv, "six.py")
        self.assertGreaterEqual(os.stat(six).st_nlink, 2)
        inodes = {os.stat(p).st_ino for p in twins(cache, six)}
        self.assertIn(os.stat(six).st_ino, inodes)  # the cache's own file, not a copy

    def test_clone_on_a_reflink_file_system(self):
        mnt = self.loop("xfs")
        cache = os.path.join(mnt, "uv-cache")
        detail, venv = self.install(os.path.join(mnt, "work"), cache)
        self.assertEqual(detail["uv_link_mode"], "clone", detail)
        for path in (site_file(venv, "six.py"), site_file(venv, "yaml/_yaml*.so")):
            st = os.stat(path)
            self.assertEqual(st.st_nlink, 1, path)
            found = twins(cache, path)
            self.assertTrue(found, f"{path} is not in the uv cache")
            self.assertNotIn(st.st_ino, {os.stat(p).st_ino for p in found})
            self.assertTrue(shared_extents(path), f"{path}: no shared extents (not cloned)")
            self.assertTrue(any(shared_extents(p) for p in found))
        # Copy on write: changing the venv's file leaves the cache's unchanged.
        six = site_file(venv, "six.py")
        cached = twins(cache, six)
        with open(six, "rb") as fh:
            before = fh.read()
        with open(six, "ab") as fh:
            fh.write(b"\n# changed in the venv\n")
        for p in cached:
            with open(p, "rb") as fh:
                self.assertEqual(fh.read(), before, p)

    def test_copy_across_file_systems(self):
        mnt = self.loop("xfs")
        cache = os.path.join(mnt, "uv-cache")
        detail, venv = self.install(self.shm_dir(), cache)
        self.assertEqual(detail["uv_link_mode"], "copy", detail)
        self.assertIn("different file systems", detail["uv_link_mode_reason"])
        so = site_file(venv, "yaml/_yaml*.so")
        self.assertEqual(os.stat(so).st_nlink, 1)
        found = twins(cache, so)
        self.assertTrue(found)
        # The cache's file on xfs shares its extents with nothing: the venv got a real copy.
        self.assertFalse(any(shared_extents(p) for p in found))

    def test_in_place_venv_links_against_its_own_directory(self):
        """In place, the venv is built in the environment cache, not the work dir: the link
        mode follows that directory (work dir on tmpfs, both caches on one xfs → clone)."""
        mnt = self.loop("xfs")
        cache = os.path.join(mnt, "uv-cache")
        detail, venv = self.install(self.shm_dir(), cache, TASKRUNNER_ENV_MODE="inplace",
                                    TASKRUNNER_ENV_CACHE=os.path.join(mnt, "env-cache"))
        self.assertTrue(venv.startswith(os.path.join(mnt, "env-cache")), venv)
        self.assertEqual(detail["uv_link_mode"], "clone", detail)
        self.assertTrue(shared_extents(site_file(venv, "yaml/_yaml*.so")))


class SshfsUvCache(TaskrunnerTest):
    """A cold install whose uv cache is on sshfs (FUSE over 127.0.0.1, standing in for NFS),
    then a second pod on the same cache; the work dir stays on local disk."""
    uv = UV_DOUBLE

    def test_cold_then_second_pod_on_an_sshfs_uv_cache(self):
        require(self, mounts.available(), "sshfs, /usr/sbin/sshd and /dev/fuse (root)")
        with mounts.Sshfs() as mnt:
            cache = os.path.join(mnt, "uv-cache")
            for n in range(2):
                work = os.path.join(self.work, f"pod{n}")
                res = self.run_tr(env=self.env(TASKRUNNER_WORK_DIR=work, UV_CACHE_DIR=cache,
                                               TASKRUNNER_RESULTS_DIR=os.path.join(work, "results"),
                                               PYTHON_DEPS=DEPS + " requests", PYTHON_CODE=CODE))
                self.assertEqual(res.code, 0, res.stderr.decode(errors="replace")[-3000:])
                mounts_rec = res.record("cache_mounts")["detail"]
                self.assertTrue(mounts_rec["writable"])
                self.assertFalse(mounts_rec["same_filesystem_as_work_dir"])
                self.assertEqual(res.record("venv")["detail"]["uv_link_mode"], "copy")
                deps = res.record("python_deps")["detail"]
                self.assertGreaterEqual(deps["installed_distributions"], 7)
                self.assertTrue(res.stdout.decode().strip().startswith(work))
                self.check_cache_reuse(n, cache, res.stderr.decode(errors="replace"))

    def check_cache_reuse(self, pod, cache, log):
        """The double installs with pip, which caches only HTTP-cacheable responses (the loopback
        index sends no Cache-Control): it downloads again and its cache stays empty."""
        del pod, log
        self.assertEqual(os.listdir(cache), [])


@unittest.skipUnless(REAL_UV, NO_REAL_UV)
class SshfsUvCacheRealUv(SshfsUvCache):
    uv = REAL_UV

    def check_cache_reuse(self, pod, cache, log):
        """uv keeps every wheel it unpacked (archive-v0) on the sshfs volume: the second pod
        prepares (downloads) nothing."""
        self.assertTrue(os.listdir(os.path.join(cache, "archive-v0")))
        self.assertEqual("Prepared " in log, pod == 0, log[-3000:])


class UvArgvContract(TaskrunnerTest):
    """The calls taskrunner makes, as uv receives them: argv (never the index URL) and the UV_*
    environment, recorded by the double itself."""
    uv = UV_DOUBLE
    version = re.compile(r"uv-test-double")

    def env(self, **extra):
        return super().env(TASKRUNNER_TEST_REAL_UV=REAL_UV or "", **extra)

    def test_calls_and_environment(self):
        log = os.path.join(self.work, "uv-calls.jsonl")
        cache = tempfile.mkdtemp(prefix="taskrunner-e2e-uv-cache-", dir="/dev/shm")
        self.addCleanup(shutil.rmtree, cache, True)
        res = self.run_tr(env=self.env(PYTHON_CODE="import six", PYTHON_DEPS="six",
                                       TASKRUNNER_TEST_UV_CALLS=log, UV_CACHE_DIR=cache,
                                       UV_LINK_MODE="symlink"))
        self.assertEqual(res.code, 0, res.stderr[-2000:])
        with open(log) as fh:
            calls = [json.loads(line) for line in fh]
        # No `uv venv`: taskrunner writes the venv itself (PEP 405) and uv installs into it.
        self.assertEqual([c["argv"][:2] for c in calls],
                         [["--version"], ["pip", "compile"], ["pip", "install"]])
        venv = os.path.join(self.work, "venv")
        self.assertEqual(res.record("venv")["detail"]["created_by"], "taskrunner")
        python = os.path.join(venv, "bin", "python")
        # Resolve to a lock first (docs/locks.md), then install exactly that lock.
        self.assertEqual(calls[1]["argv"], ["pip", "compile", os.path.join(self.work, "requirements.txt"),
                                            "--python", python, "--generate-hashes", "--no-header",
                                            "--no-annotate", "--quiet", "-o",
                                            os.path.join(self.work, "requirements.compiled")])
        self.assertEqual(calls[2]["argv"], ["pip", "install", "--python", python,
                                            "-r", os.path.join(self.work, "requirements.lock"),
                                            "--require-hashes", "--no-deps"])
        link = res.record("venv")["detail"]
        # The work dir (/tmp) and the cache (/dev/shm) are two file systems: copy, whatever the
        # pod's environment said.
        self.assertEqual(link["uv_link_mode"], "copy")
        for call in calls[1:]:
            env = call["env"]
            self.assertEqual(env["UV_PYTHON_DOWNLOADS"], "never")
            self.assertEqual(env["UV_CACHE_DIR"], cache)
            self.assertEqual(env["UV_NO_PROGRESS"], "1")
            self.assertEqual(env["UV_LINK_MODE"], "copy")
            self.assertEqual(env["UV_DEFAULT_INDEX"], self.server.url)
            self.assertNotIn(self.server.url, " ".join(call["argv"]))
        rec = res.record("uv")
        self.assertEqual(rec["detail"]["installer"], "uv")
        self.assertRegex(rec["detail"]["version"], self.version)

    def test_calls_without_cache(self):
        log = os.path.join(self.work, "uv-calls.jsonl")
        res = self.run_tr(env=self.env(PYTHON_CODE="import six", PYTHON_DEPS="six",
                                       TASKRUNNER_TEST_UV_CALLS=log, USE_CACHE="0"))
        self.assertEqual(res.code, 0)
        with open(log) as fh:
            calls = [json.loads(line) for line in fh]
        self.assertEqual([c["argv"][:2] for c in calls],
                         [["--version"], ["pip", "compile"], ["pip", "install"]])
        for call in calls[1:]:
            self.assertEqual(call["env"].get("UV_NO_CACHE"), "1")
            self.assertNotIn("UV_CACHE_DIR", call["env"])
            self.assertNotIn("UV_LINK_MODE", call["env"])
        self.assertNotIn("uv_link_mode", res.record("venv")["detail"])


@unittest.skipUnless(REAL_UV, NO_REAL_UV)
class UvArgvContractRealUv(UvArgvContract):
    """The same calls reaching the real uv (uv-call-recorder logs, then execs it)."""
    uv = UV_RECORDER
    version = re.compile(r"^uv 0\.11\.28\b")


class UvCli(TaskrunnerTest):
    """The uv behaviour taskrunner relies on, called directly; the double must match the real uv
    on each (UvCliRealUv runs the same checks against it)."""
    uv = UV_DOUBLE

    def uv_run(self, *argv, index=None):
        env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1",
                   UV_CACHE_DIR=self.cache, UV_DEFAULT_INDEX=index or self.server.url)
        env.pop("TASKRUNNER_TEST_UV_CALLS", None)
        return subprocess.run([self.uv, *argv], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=300)

    def venv(self):
        venv = os.path.join(self.work, "venv")
        p = self.uv_run("venv", venv, "--python", "/usr/bin/python3")
        self.assertEqual(p.returncode, 0, p.stderr)
        return venv

    def install(self, requirement, index=None):
        venv = os.path.join(self.work, "venv")
        req = os.path.join(self.work, "requirements.txt")
        with open(req, "w") as fh:
            fh.write(requirement + "\n")
        return self.uv_run("pip", "install", "--python", os.path.join(venv, "bin", "python"),
                           "-r", req, index=index)

    def test_version(self):
        p = self.uv_run("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^uv \d+\.\d+\.\d+")

    def test_venv_layout_and_no_reuse(self):
        venv = self.venv()
        with open(os.path.join(venv, "pyvenv.cfg")) as fh:
            cfg = dict(line.split(" = ", 1) for line in fh.read().splitlines() if " = " in line)
        self.assertEqual(cfg["home"], "/usr/bin")
        self.assertIn("uv", cfg)
        self.assertFalse(glob.glob(os.path.join(venv, "lib", "python3*", "site-packages", "pip")))
        out = subprocess.run([os.path.join(venv, "bin", "python"), "-c", "import sys; print(sys.prefix)"],
                             stdout=subprocess.PIPE, text=True, check=True)
        self.assertEqual(out.stdout.strip(), venv)
        # An existing venv is refused (taskrunner removes the old one first).
        again = self.uv_run("venv", venv, "--python", "/usr/bin/python3")
        self.assertEqual(again.returncode, 2)
        self.assertIn("already exists", again.stderr)

    def test_install_output_on_stderr(self):
        self.venv()
        p = self.install("six")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertIn("six", p.stderr)

    def test_exit_codes(self):
        self.venv()
        for requirement in ("nosuchpkg", "six==0.1", "six>=99", "brokenpkg"):
            p = self.install(requirement)
            self.assertEqual(p.returncode, 1, (requirement, p.stderr[-2000:]))
        with IndexServer() as down:
            url = down.url
        p = self.install("six", index=url)
        self.assertEqual(p.returncode, 2, p.stderr[-2000:])


@unittest.skipUnless(REAL_UV, NO_REAL_UV)
class UvCliRealUv(UvCli):
    uv = REAL_UV


if __name__ == "__main__":
    unittest.main()
