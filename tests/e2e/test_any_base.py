"""One static binary for any base image (README "Any base image"): a chroot that holds only the
static taskrunner, /etc/hosts, /etc/resolv.conf, /dev/null and Debian's Python copied with the
shared libraries it links — no libc of the binary's own, no NSS modules, no nsswitch.conf, no
shell. `doctor` resolves an index host from /etc/hosts and one through a DNS server on loopback
(Debian's dnsmasq, started here), and a `six` task installs from the loopback index by host name.

Runs as root (chroot, mknod, unshare, a DNS server on port 53 of 127.0.0.77)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import TASKRUNNER, IndexServer, require

PYTHON = os.path.realpath(sys.executable)  # Debian's /usr/bin/python3 -> python3.11
DNS_ADDRESS = "127.0.0.77"  # a loopback address of its own, so no other resolver is in the way
HOSTS_NAME = "index.hosts.test"  # only in the chroot's /etc/hosts
DNS_NAME = "index.dns.test"  # only in dnsmasq's answers


def shared_libraries(paths):
    """Every shared object `paths` load (ldd), the dynamic loader included."""
    libs = set()
    for path in paths:
        out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        for line in out.splitlines():
            for word in line.split():
                if word.startswith("/") and os.path.exists(word):
                    libs.add(word)
    return sorted(libs)


def copy_file(src, root):
    dest = os.path.join(root, src.lstrip("/"))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copy2(os.path.realpath(src), dest)


def build_root(root):
    """The chroot: the binary, three files under /etc, /dev/null, Python and its libraries."""
    os.makedirs(os.path.join(root, "etc"))
    shutil.copy2(TASKRUNNER, os.path.join(root, "taskrunner"))
    with open(os.path.join(root, "etc", "hosts"), "w") as fh:
        fh.write(f"127.0.0.1 localhost\n127.0.0.1 {HOSTS_NAME}\n")
    with open(os.path.join(root, "etc", "resolv.conf"), "w") as fh:
        fh.write(f"nameserver {DNS_ADDRESS}\noptions timeout:1 attempts:1\n")
    os.makedirs(os.path.join(root, "dev"))
    os.mknod(os.path.join(root, "dev", "null"), 0o666 | 0o020000, os.makedev(1, 3))
    os.chmod(os.path.join(root, "dev", "null"), 0o666)
    for d in ("proc", "tmp", "work"):
        os.makedirs(os.path.join(root, d))
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    stdlib = os.path.join("/usr/lib", os.path.basename(PYTHON))
    shutil.copytree(stdlib, os.path.join(root, stdlib.lstrip("/")), symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "test", "idlelib", "tkinter"))
    # Debian's ensurepip (python -m venv) installs pip from here.
    shutil.copytree("/usr/share/python-wheels", os.path.join(root, "usr/share/python-wheels"))
    copy_file(PYTHON, root)
    dynload = os.path.join(stdlib, "lib-dynload")
    modules = [os.path.join(dynload, f) for f in os.listdir(dynload) if f.endswith(".so")]
    for lib in shared_libraries([PYTHON, *modules]):
        copy_file(lib, root)


class AnyBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="taskrunner-anybase-")
        cls.root = os.path.join(cls.tmp, "root")
        build_root(cls.root)
        cls.dns_log = os.path.join(cls.tmp, "dnsmasq.log")
        with open(cls.dns_log, "w") as log:
            cls.dns = subprocess.Popen(
                ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--log-queries",
                 "--log-facility=-", f"--listen-address={DNS_ADDRESS}", "--bind-interfaces",
                 "--port=53", f"--address=/{DNS_NAME}/127.0.0.1",
                 f"--pid-file={cls.tmp}/dnsmasq.pid"],
                stdout=subprocess.DEVNULL, stderr=log)
        time.sleep(0.3)  # dnsmasq binds before it logs "started"; a failed bind exits at once
        cls.server = IndexServer().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        cls.dns.terminate()
        cls.dns.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        require(self, os.geteuid() == 0, "root (chroot, mknod, unshare)")
        require(self, shutil.which("dnsmasq") is not None, "dnsmasq (Debian's dnsmasq-base)")
        with open(self.dns_log) as fh:
            require(self, self.dns.poll() is None, f"dnsmasq serving on {DNS_ADDRESS}:53: {fh.read()}")

    def chroot(self, args, **env):
        """`/taskrunner args` in the chroot, PID 1 of a new PID namespace with its own /proc,
        with nothing of this machine's environment (`env`: variables; None drops one)."""
        base = {"TASKRUNNER_WORK_DIR": "/work", "TASKRUNNER_RUN_AS": "off",
                "TASKRUNNER_PYTHON": PYTHON, "PIP_CONFIG_FILE": "/dev/null"}
        base.update(env)
        base = {k: v for k, v in base.items() if v is not None}  # None: the default
        proc = subprocess.run(
            ["/usr/bin/unshare", "--mount", "--fork", "--pid",
             f"--mount-proc={self.root}/proc", "/usr/sbin/chroot", self.root, "/taskrunner",
             *args], env=base, capture_output=True, timeout=300)
        return proc

    def url(self, host):
        return f"http://{host}:{self.server.port}/simple"

    def doctor_network(self, host):
        proc = self.chroot(["doctor", "--json"], TASKRUNNER_INDEX_URL=self.url(host))
        doc = json.loads(proc.stdout)
        network = [c for c in doc["checkpoints"] if c["id"] == "network"][0]
        return proc, network

    def test_root_holds_a_static_binary_and_no_nss_configuration(self):
        # The point of the test: the binary brings its own libc, and the root has no NSS module
        # and no nsswitch.conf (glibc then asks DNS, then /etc/hosts).
        found = [os.path.join(d, f) for d, _, fs in os.walk(self.root) for f in fs]
        self.assertFalse([f for f in found if "libnss_" in f or f.endswith("nsswitch.conf")])
        self.assertEqual(sorted(os.listdir(os.path.join(self.root, "etc"))),
                         ["hosts", "resolv.conf"])
        out = subprocess.run(["file", "-L", TASKRUNNER], capture_output=True, text=True).stdout
        self.assertIn("statically linked", out)

    def test_doctor_resolves_from_etc_hosts(self):
        proc, network = self.doctor_network(HOSTS_NAME)
        self.assertEqual(network["status"], "ok", proc.stderr.decode()[-2000:])
        self.assertEqual(network["detail"]["address"], "127.0.0.1")
        self.assertEqual(network["detail"]["http_status"], 200)

    def test_doctor_resolves_through_dns(self):
        proc, network = self.doctor_network(DNS_NAME)
        self.assertEqual(network["status"], "ok", proc.stderr.decode()[-2000:])
        self.assertEqual(network["detail"]["address"], "127.0.0.1")
        # The answer came from the DNS server, not from a file.
        time.sleep(0.2)
        with open(self.dns_log) as fh:
            self.assertIn(f"query[A] {DNS_NAME}", fh.read())

    def test_unknown_name_is_a_dns_failure_not_a_crash(self):
        proc, network = self.doctor_network("absent.dns.test")
        self.assertEqual(network["status"], "failed")
        self.assertEqual(network["detail"]["failure"], "dns_failure")
        self.assertEqual(proc.returncode, 125)  # a setup checkpoint failed (README "Exit codes")

    def test_untrusted_http_host_is_named(self):
        # pip ignores a plain-http index on a host other than localhost: the failure says so.
        proc = self.chroot([], TASKRUNNER_INDEX_URL=self.url(DNS_NAME), PYTHON_DEPS="six",
                           PYTHON_CODE="pass", TASKRUNNER_ENV_MODE="off")
        self.assertEqual(proc.returncode, 125)
        self.assertIn(b"pip ignored the index", proc.stderr)
        self.assertIn(b"PIP_TRUSTED_HOST", proc.stderr)

    def test_six_task_by_host_name(self):
        proc = self.chroot([], TASKRUNNER_INDEX_URL=self.url(DNS_NAME), PYTHON_DEPS="six",
                           PIP_TRUSTED_HOST=DNS_NAME, TASKRUNNER_RUN_AS=None,
                           PYTHON_CODE="import six, socket; print('six', six.__version__, "
                                       f"socket.gethostbyname('{HOSTS_NAME}'))")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode()[-3000:])
        self.assertIn(b"six 1.16.0 127.0.0.1", proc.stdout)
        with open(os.path.join(self.root, "work/results/checkpoints.json")) as fh:
            doc = json.load(fh)
        status = {c["id"]: c["status"] for c in doc["checkpoints"]}
        self.assertEqual(status.pop("uv"), "warn")  # no uv in this root: python -m venv + pip
        self.assertTrue(all(v in ("ok", "skipped") for v in status.values()), status)
        user_code = [c for c in doc["checkpoints"] if c["id"] == "user_code"][0]
        self.assertEqual(user_code["detail"]["run_as"], "65534:65534")  # no /etc/passwd needed


if __name__ == "__main__":
    unittest.main()
