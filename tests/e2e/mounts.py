"""File systems for tests and benchmarks, each mounted for the lifetime of a `with` block and torn
down on exit (root only):

- `Sshfs()`: sshfs (FUSE) mounting a directory over an sshd that listens on 127.0.0.1 only,
  standing in for NFS (Debian's sshfs and openssh-server, /dev/fuse);
- `LoopFs("xfs")` / `LoopFs("ext4")` / `LoopFs("btrfs")`: a file-backed image on a loop device,
  for what depends on the file system (xfs is made with reflink=1, so files can be cloned)."""
import os
import shutil
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshfs:
    """`with Sshfs() as mnt:` — `mnt` is a directory whose files travel over ssh."""

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="bench-sshfs-")
        t = self.tmp
        export, self.mnt = os.path.join(t, "export"), os.path.join(t, "mnt")
        os.makedirs(export)
        os.makedirs(self.mnt)
        os.makedirs("/run/sshd", exist_ok=True)
        for key in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            os.path.join(t, key)], check=True)
        shutil.copy(os.path.join(t, "client_key.pub"), os.path.join(t, "authorized_keys"))
        port = free_port()
        config = os.path.join(t, "sshd_config")
        with open(config, "w") as fh:
            fh.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {t}/host_key\n"
                     f"AuthorizedKeysFile {t}/authorized_keys\nPermitRootLogin prohibit-password\n"
                     f"StrictModes no\nUsePAM no\nPidFile {t}/sshd.pid\n"
                     "Subsystem sftp internal-sftp\n")
        self.sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", config],
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        self.export, self.port, self.mounts = export, port, []
        self.mount_at(self.mnt)
        return self.mnt

    def mount_at(self, mnt):
        """Mounts the same export once more at `mnt` (made if missing): a second sshfs client
        with its own connection, caches and FUSE superblock — what a second node sees."""
        os.makedirs(mnt, exist_ok=True)
        subprocess.run(["sshfs", f"root@127.0.0.1:{self.export}", mnt, "-p", str(self.port), "-o",
                        f"IdentityFile={self.tmp}/client_key,StrictHostKeyChecking=no,"
                        "UserKnownHostsFile=/dev/null,LogLevel=ERROR"], check=True)
        self.mounts.append(mnt)
        return mnt

    def __exit__(self, *exc):
        for mnt in reversed(self.mounts):
            subprocess.run(["fusermount", "-u", mnt], check=False)
        self.sshd.terminate()
        self.sshd.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def available():
    """Sshfs can be mounted here."""
    return os.geteuid() == 0 and shutil.which("sshfs") and os.path.exists("/usr/sbin/sshd") \
        and os.path.exists("/dev/fuse")


MKFS = {"xfs": ["mkfs.xfs", "-q", "-m", "reflink=1"], "ext4": ["mkfs.ext4", "-q", "-F"],
        "btrfs": ["mkfs.btrfs", "-q"]}


def loop_available(fstype):
    """A `fstype` image can be made and loop-mounted here."""
    return os.geteuid() == 0 and shutil.which(MKFS[fstype][0]) is not None \
        and os.path.exists("/dev/loop-control")


class LoopFs:
    """`with LoopFs("xfs", 600) as mnt:` — `mnt` is the root of a fresh `fstype` file system of
    `size_mb` MiB, backed by a sparse image file beside it."""

    def __init__(self, fstype, size_mb=600):
        self.fstype, self.size_mb = fstype, size_mb

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix=f"taskrunner-{self.fstype}-")
        image, self.mnt = os.path.join(self.tmp, "image"), os.path.join(self.tmp, "mnt")
        os.makedirs(self.mnt)
        with open(image, "wb") as fh:
            fh.truncate(self.size_mb * 1024 * 1024)
        subprocess.run([*MKFS[self.fstype], image], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["mount", "-o", "loop", image, self.mnt], check=True)
        return self.mnt

    def __exit__(self, *exc):
        if subprocess.run(["umount", self.mnt], check=False).returncode != 0:
            subprocess.run(["umount", "-l", self.mnt], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)
