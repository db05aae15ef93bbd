"""Two nodes on one volume (docs/env-cache.md "Two nodes on one volume"): one directory exported
by an sshd on 127.0.0.1 and mounted twice with sshfs — two FUSE superblocks with their own
connections and caches, as two nodes mount one PVC. Every runner and prune runs in a mount
namespace of its own where its node's mount is bound at one path (…/pvc) and its own work dir at
another (…/work), as every pod sees the PVC at the same mountPath and its emptyDir at the same
TASKRUNNER_WORK_DIR (a snapshot's key holds the venv path, which is under the work dir).

flock(2) on FUSE is local to one superblock: it excludes runners of one node, not of two (shown
by test_01). What must hold anyway: no failure, no corrupt or half-published entry served, at most
one build per node."""
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import threading
import unittest

import mounts
from harness import TASKRUNNER, Result, TaskrunnerTest, in_parallel, require

DEPS = "requests pydantic"
CODE = "import requests, pydantic; print('ok', requests.__version__, pydantic.VERSION)"


class TwoNodes(TaskrunnerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sshfs = None
        if not mounts.available():
            return
        cls.sshfs = mounts.Sshfs()
        cls.node_mounts = [cls.sshfs.__enter__()]
        cls.node_mounts.append(cls.sshfs.mount_at(os.path.join(cls.root, "node-b")))
        cls.pvc = os.path.join(cls.root, "pvc")  # where every pod sees its node's mount
        cls.pod_work = os.path.join(cls.root, "work")  # where every pod sees its own work dir
        os.makedirs(cls.pvc)
        os.makedirs(cls.pod_work)

    @classmethod
    def tearDownClass(cls):
        if cls.sshfs:
            cls.sshfs.__exit__(None, None, None)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        require(self, mounts.available(), "sshfs, /usr/sbin/sshd and /dev/fuse (root)")
        require(self, subprocess.run(["unshare", "--mount", "true"]).returncode == 0,
                "unshare --mount (root)")
        # Each test its own env cache on the volume (removing one behind the mounts' backs would
        # leave their attribute caches showing directories that are gone).
        self.volume_dir = self.id().rsplit(".", 1)[-1]

    def on_node(self, node, args, env, timeout=600):
        """`taskrunner args` as a pod of `node` (0 or 1): its mount bound at self.pvc, the pod's
        own work dir (env["POD_WORK"]) at self.pod_work."""
        proc = subprocess.run(
            ["unshare", "--mount", "sh", "-c",
             f'mount --bind "{self.node_mounts[node]}" "{self.pvc}" && '
             f'mount --bind "{env["POD_WORK"]}" "{self.pod_work}" && exec "$0" "$@"',
             TASKRUNNER, *args], env=env, capture_output=True, timeout=timeout)
        return Result(proc, proc.stdout, proc.stderr, env["POD_WORK"],
                      os.path.join(env["POD_WORK"], "results"), 0)

    def pod_env(self, name, **extra):
        work = os.path.join(self.work, name)
        os.makedirs(work)
        return self.env(TASKRUNNER_WORK_DIR=self.pod_work, POD_WORK=work, TASKRUNNER_ENV_MODE="auto",
                        TASKRUNNER_ENV_CACHE=os.path.join(self.pvc, self.volume_dir, "env-cache"),
                        UV_CACHE_DIR=os.path.join(self.pod_work, "uv-cache"), PYTHON_DEPS=DEPS,
                        PYTHON_CODE=CODE, **extra)

    def run_pod(self, node, name):
        res = self.on_node(node, [], self.pod_env(name))
        self.check_records(res)
        return res

    def entries_on_volume(self):
        """(dir, manifest) of every published entry, each checked against its archive — read on
        the server's side (the exported directory), not through a mount whose attribute cache
        may still show what the other mount's prune removed."""
        envs = os.path.join(self.sshfs.export, self.volume_dir, "env-cache", "envs")
        found = []
        for name in sorted(os.listdir(envs)):
            manifest = os.path.join(envs, name, "manifest.json")
            if name.startswith(".") or not os.path.exists(manifest):
                continue
            with open(manifest) as fh:
                m = json.load(fh)
            with open(os.path.join(envs, name, "venv.tar.zst"), "rb") as fh:
                data = fh.read()
            self.assertEqual(len(data), m["archive"]["bytes"], name)
            self.assertEqual(hashlib.sha256(data).hexdigest(), m["archive"]["sha256"], name)
            found.append((name, m))
        return found

    def test_01_flock_does_not_exclude_across_the_two_mounts(self):
        paths = [os.path.join(m, "probe.lock") for m in self.node_mounts]
        with open(paths[0], "w") as a, open(paths[1], "w") as b, open(paths[0]) as a2:
            fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with self.assertRaises(BlockingIOError):  # one node: excluded
                fcntl.flock(a2, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the other node: granted as well

    def test_02_eight_cold_runners_split_across_two_nodes(self):
        results = in_parallel(8, lambda i: self.run_pod(i % 2, f"cold{i}"))
        builds = [0, 0]
        for i, res in enumerate(results):
            self.assertEqual(res.code, 0, res.stderr.decode(errors="replace")[-3000:])
            self.assertIn(b"ok 2.28.1", res.stdout)
            cache = res.record("venv")["detail"]["env_cache"]
            self.assertEqual(cache["mode"], "snapshot")  # auto: a network file system
            self.assertIn(cache["result"], ("miss", "hit"))
            if cache["result"] == "miss":
                builds[i % 2] += 1
        self.assertLessEqual(max(builds), 1, builds)  # single flight within each node
        self.assertGreaterEqual(sum(builds), 1)
        # When both nodes built, the later publisher kept the entry already there.
        kept = [r.record("python_deps")["detail"]["env_cache"].get("published_by_another", False)
                for r in results if r.record("venv")["detail"]["env_cache"]["result"] == "miss"]
        self.assertEqual(kept.count(True), sum(builds) - 1, kept)
        entries = self.entries_on_volume()
        self.assertEqual(len(entries), 1, entries)
        # Both nodes are served the one entry now.
        for node in (0, 1):
            res = self.run_pod(node, f"warm{node}")
            self.assertEqual(res.code, 0, res.stderr.decode(errors="replace")[-3000:])
            self.assertEqual(res.record("venv")["detail"]["env_cache"]["result"], "hit")
        print(f"\ntwo nodes, 8 cold runners: builds per node {builds}", flush=True)

    def test_03_prune_from_both_nodes_while_runners_hit(self):
        first = self.run_pod(0, "seed")
        self.assertEqual(first.code, 0, first.stderr.decode(errors="replace")[-3000:])
        stop = threading.Event()
        prunes = []

        def prune_loop(node):
            n = 0
            while not stop.is_set():
                env = self.pod_env(f"prune{node}-{n}")
                res = self.on_node(node, ["cache", "prune", "--max-bytes", "0"], env)
                prunes.append(res.code)
                n += 1

        threads = [threading.Thread(target=prune_loop, args=(node,)) for node in (0, 1)]
        for t in threads:
            t.start()
        try:
            results = in_parallel(6, lambda i: self.run_pod(i % 2, f"run{i}"))
        finally:
            stop.set()
            for t in threads:
                t.join()
        for res in results:
            self.assertEqual(res.code, 0, res.stderr.decode(errors="replace")[-3000:])
            self.assertIn(b"ok 2.28.1", res.stdout)
        self.assertTrue(prunes)
        self.assertEqual(set(prunes), {0}, prunes)
        self.entries_on_volume()  # whatever is left is whole
        print(f"\nprune from both nodes: {len(prunes)} prunes, runners "
              f"{[r.record('venv')['detail']['env_cache']['result'] for r in results]}", flush=True)


FLOCK_FAILS = os.environ.get("TASKRUNNER_FLOCK_FAILS",
                             os.path.join(os.path.dirname(TASKRUNNER), "tests", "flock_fails"))


class FlockUnsupported(TaskrunnerTest):
    """A volume where flock(2) fails outright (tests/helpers/flock_fails: a seccomp filter):
    ENOLCK (NFS without a lock manager), EOPNOTSUPP, and 524 (the kernel's ENOTSUPP, reported
    from HPC file systems). Runs go on without single flight and still publish and hit; prune
    removes nothing it cannot lock."""

    def run_without_flock(self, err, name, args=(), **extra):
        work = os.path.join(self.work, name)
        env = self.env(TASKRUNNER_WORK_DIR=work, TASKRUNNER_ENV_MODE="inplace",
                       TASKRUNNER_ENV_CACHE=os.path.join(self.work, "env-cache"),
                       PYTHON_DEPS="six", PYTHON_CODE="import six; print('six', six.__version__)",
                       **extra)
        proc = subprocess.run([FLOCK_FAILS, str(err), TASKRUNNER, *args], env=env,
                              capture_output=True, timeout=600)
        res = Result(proc, proc.stdout, proc.stderr, work, os.path.join(work, "results"), 0)
        self.check_records(res)
        return res

    def test_runs_publish_and_hit_without_flock(self):
        require(self, os.path.exists(FLOCK_FAILS), f"the flock_fails helper ({FLOCK_FAILS})")
        for err in (37, 95, 524):
            with self.subTest(errno=err):
                cold = in_parallel(2, lambda i, e=err: self.run_without_flock(e, f"cold{e}-{i}"))
                for res in cold:
                    self.assertEqual(res.code, 0, res.stderr.decode(errors="replace")[-3000:])
                    self.assertIn(b"six 1.16.0", res.stdout)
                    detail = res.record("venv")["detail"]["env_cache"]
                    if detail["result"] == "miss":
                        self.assertTrue(detail["build_lock"].startswith("unsupported: "), detail)
                warm = self.run_without_flock(err, f"warm{err}")
                self.assertEqual(warm.code, 0, warm.stderr.decode(errors="replace")[-3000:])
                self.assertEqual(warm.record("venv")["detail"]["env_cache"]["result"], "hit")
                prune = self.run_without_flock(err, f"prune{err}",
                                               ["cache", "prune", "--max-bytes", "0"])
                self.assertEqual(prune.code, 0, prune.stderr.decode(errors="replace")[-2000:])
                after = self.run_without_flock(err, f"after{err}")
                self.assertEqual(after.code, 0)
                # prune could lock nothing, so it removed nothing: the entry is still served.
                self.assertEqual(after.record("venv")["detail"]["env_cache"]["result"], "hit")
                shutil.rmtree(os.path.join(self.work, "env-cache"))


if __name__ == "__main__":
    unittest.main()
