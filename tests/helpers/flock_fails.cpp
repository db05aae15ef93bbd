// Test helper: `flock_fails ERRNO PROGRAM [ARGS...]` runs PROGRAM with every flock(2) failing with
// ERRNO (a seccomp filter, inherited across exec and fork) — the file system that cannot lock:
// NFS without a lock manager (ENOLCK 37), FUSE or cluster file systems (EOPNOTSUPP 95, or the
// kernel-internal ENOTSUPP 524). Used by tests/e2e/test_two_nodes.py; x86_64 and aarch64.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
constexpr unsigned kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned kArch = AUDIT_ARCH_AARCH64;
#else
#error "flock_fails: add this architecture's AUDIT_ARCH"
#endif

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: flock_fails ERRNO PROGRAM [ARGS...]\n");
    return 2;
  }
  const long err = std::strtol(argv[1], nullptr, 10);
  if (err <= 0 || err > 4095) {
    std::fprintf(stderr, "flock_fails: ERRNO must be 1..4095\n");
    return 2;
  }
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_flock, 0, 1),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    std::fprintf(stderr, "flock_fails: seccomp: %s\n", std::strerror(errno));
    return 1;
  }
  ::execv(argv[2], argv + 2);
  std::fprintf(stderr, "flock_fails: cannot run %s: %s\n", argv[2], std::strerror(errno));
  return 127;
}
