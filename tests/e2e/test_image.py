"""The image, for real and offline: debootstrap a bookworm root file system with python3 and
python3-venv, import it as the base image, build the runtime stage of images/Dockerfile with
buildah (chroot isolation, vfs storage) around the freshly built binary, then run the image's
ENTRYPOINT as PID 1 of a new PID namespace (unshare + chroot) with the caches and results
bind-mounted where the PVCs go. A task runs cold, then warm, against the loopback index.

Fails, naming what is missing, where buildah, debootstrap or unshare are unavailable or not root.
TASKRUNNER_IMAGE_ROOTFS may name an existing debootstrapped tree to save the download."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import REAL_UV, TASKRUNNER, TESTS, IndexServer, validate_record

ROOT = os.path.dirname(TESTS)
BASE = "localhost/taskrunner-test-base:bookworm"
IMAGE = "localhost/taskrunner:test"


def missing():
    if os.geteuid() != 0:
        return "not root"
    for tool in ("buildah", "debootstrap", "unshare", "chroot"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if subprocess.run(["unshare", "--pid", "--fork", "--mount", "true"]).returncode != 0:
        return "unshare --pid --mount is not permitted"
    return None


REASON = missing()


def log(msg):
    sys.stderr.write(f"[image test {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


class Image(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if REASON is not None:  # installed by tests/install-deps.sh: a gap, not a skip
            raise RuntimeError(f"the image test needs buildah, debootstrap and unshare as root: {REASON}"
                               " (run the suite as root after tests/install-deps.sh)")
        cls.tmp = tempfile.mkdtemp(prefix="taskrunner-image-", dir="/var/tmp")
        cls.store = ["--root", os.path.join(cls.tmp, "storage"),
                     "--runroot", os.path.join(cls.tmp, "run"), "--storage-driver", "vfs"]
        t0 = time.monotonic()
        rootfs = os.environ.get("TASKRUNNER_IMAGE_ROOTFS")
        if not rootfs:
            rootfs = os.path.join(cls.tmp, "rootfs")
            log("debootstrap bookworm (minbase + python3, python3-venv)")
            subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv",
                            "bookworm", rootfs, "http://deb.debian.org/debian"], check=True,
                           stdout=subprocess.DEVNULL)
        cls.timing = {"rootfs_s": time.monotonic() - t0}
        t0 = time.monotonic()
        log("import the root file system as " + BASE)
        ctr = cls.buildah("from", "scratch").strip()
        cls.buildah("copy", ctr, rootfs + "/", "/")
        cls.buildah("commit", "--quiet", ctr, BASE)
        cls.buildah("rm", ctr)
        cls.timing["import_s"] = time.monotonic() - t0
        # The real uv (../shared/tools/uv), when there is one, goes into images/tools/ for the
        # build, so the container's cold run installs with uv; removed again afterwards.
        cls.placed_tools = []
        tools = os.path.join(ROOT, "images", "tools")
        if REAL_UV and not os.path.lexists(os.path.join(tools, "uv")):
            dist = os.path.join(tools, "uv-dist")
            shutil.rmtree(dist, ignore_errors=True)
            shutil.copytree(os.path.dirname(os.path.dirname(REAL_UV)), dist, symlinks=True)
            os.symlink(os.path.join("uv-dist", "bin", "uv"), os.path.join(tools, "uv"))
            cls.placed_tools = [os.path.join(tools, "uv"), dist]
            cls.addClassCleanup(cls.remove_placed_tools)  # runs even if setUpClass fails
            log("uv for the image: " + REAL_UV)
        # The binary under test, inside the build context (the repository).
        binary = os.path.realpath(TASKRUNNER)
        rel = os.path.relpath(binary, ROOT)
        if rel.startswith(".."):
            shutil.copy(binary, os.path.join(ROOT, "build", "taskrunner"))
            rel = "build/taskrunner"
        t0 = time.monotonic()
        log("buildah bud --target runtime (binary from the context: " + rel + ")")
        cls.buildah("bud", "--isolation", "chroot", "--layers=false", "--target", "runtime",
                    "--build-arg", "BASE_IMAGE=" + BASE,
                    "--build-arg", "TASKRUNNER_SOURCE=context",
                    "--build-arg", "TASKRUNNER_BINARY=" + rel,
                    "-t", IMAGE, "-f", os.path.join(ROOT, "images", "Dockerfile"), ROOT)
        cls.timing["build_s"] = time.monotonic() - t0
        config = json.loads(cls.buildah("inspect", "--type", "image", IMAGE))["OCIv1"]["config"]
        cls.entrypoint = config["Entrypoint"]
        cls.image_env = config.get("Env", [])
        cls.ctr = cls.buildah("from", IMAGE).strip()
        cls.fs = cls.buildah("mount", cls.ctr).strip()  # the image's file system, exported
        cls.server = IndexServer().__enter__()
        for d in ("uv-cache", "env-cache", "results"):
            os.makedirs(os.path.join(cls.tmp, d))
        log(f"ready: {cls.timing}")

    @classmethod
    def remove_placed_tools(cls):
        for placed in cls.placed_tools:
            if os.path.islink(placed):
                os.unlink(placed)
            else:
                shutil.rmtree(placed, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        subprocess.run(["buildah", *cls.store, "umount", cls.ctr], stdout=subprocess.DEVNULL)
        subprocess.run(["buildah", *cls.store, "rm", "--all"], stdout=subprocess.DEVNULL)
        subprocess.run(["buildah", *cls.store, "rmi", "--all", "--force"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def buildah(cls, *args):
        return subprocess.run(["buildah", *cls.store, *args], check=True, text=True,
                              stdout=subprocess.PIPE).stdout

    def run_image(self, **task):
        """The ENTRYPOINT as PID 1 of a new PID and mount namespace, PVC-like bind mounts."""
        script = ('set -e; R="$1"; shift; mount --make-rprivate /; '
                  'mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"; '
                  'mount --bind "$1" "$R/root/.cache/uv"; '
                  'mount --bind "$2" "$R/root/.cache/taskrunner"; '
                  'mount --bind "$3" "$R/mnt/results"; shift 3; exec chroot "$R" "$@"')
        env = dict(e.split("=", 1) for e in self.image_env)  # the image's ENV, as a runtime sets
        env.update(ARGO_WORKFLOW_NAME="image-test", TASKRUNNER_INDEX_URL=self.server.url, **task)
        t0 = time.monotonic()
        p = subprocess.run(["unshare", "--pid", "--fork", "--mount", "--", "/bin/sh", "-c", script,
                            "sh", self.fs, os.path.join(self.tmp, "uv-cache"),
                            os.path.join(self.tmp, "env-cache"), os.path.join(self.tmp, "results"),
                            *self.entrypoint], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=600)
        elapsed = time.monotonic() - t0
        with open(os.path.join(self.tmp, "results", "image-test", "checkpoints.json")) as fh:
            doc = validate_record(json.load(fh))
        return p, {c["id"]: c for c in doc["checkpoints"]}, elapsed

    def test_cold_then_warm_task_as_pid1(self):
        task = dict(PYTHON_DEPS="six requests",
                    PYTHON_CODE="import os, sys, six, requests; "
                                "print(six.__name__, requests.__name__, sys.version_info[:2])")
        cold, recs, t_cold = self.run_image(**task)
        self.assertEqual(cold.returncode, 0, cold.stderr.decode()[-3000:])
        self.assertEqual(cold.stdout.decode().strip(), "six requests (3, 11)")
        self.assertTrue(recs["runtime"]["detail"]["pid1"])
        # With the real uv in images/tools/, the image's cold run installs with it.
        self.assertEqual(recs["uv"]["detail"]["installer"], "uv" if REAL_UV else "pip")
        if REAL_UV:
            self.assertIn("uv 0.11", recs["uv"]["detail"]["version"])
            self.assertEqual(recs["python_deps"]["detail"]["installer"], "uv")
        self.assertEqual(recs["python_deps"]["detail"]["env_cache"]["result"], "miss")
        self.assertEqual(recs["user_code"]["detail"]["exit_code"], 0)
        # The image starts as root, so the code ran as nobody (docs/security.md).
        self.assertEqual(recs["user_code"]["detail"]["run_as"], "65534:65534")
        warm, recs, t_warm = self.run_image(**task)
        self.assertEqual(warm.returncode, 0, warm.stderr.decode()[-3000:])
        self.assertEqual(warm.stdout.decode().strip(), "six requests (3, 11)")
        self.assertEqual(recs["venv"]["detail"]["env_cache"]["result"], "hit")
        self.assertEqual(recs["network"]["status"], "skipped")
        log(f"cold run {t_cold:.2f} s, warm run {t_warm:.2f} s; setup {self.timing}")

    def test_exit_code_passes_through(self):
        p, recs, _ = self.run_image(PYTHON_CODE="import sys; print('bye'); sys.exit(7)")
        self.assertEqual(p.returncode, 7)
        self.assertEqual(p.stdout, b"bye\n")
        self.assertEqual(recs["user_code"]["status"], "failed")


if __name__ == "__main__":
    unittest.main()
