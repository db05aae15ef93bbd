#!/usr/bin/env bash
# The newcomer check: does the README hold on a bare machine?
#
# Debootstraps Debian bookworm (minbase: nothing but the required packages) into a temp dir,
# clones this repository's committed HEAD into it, chroots in as root with a bare environment and
# runs the README's first two commands (1: install, build, demo; 2: the whole test suite), taken
# from README.md itself. Prints both exit codes and the time; exits non-zero if either failed.
# Takes tens of minutes; not part of .ci/run. Needs root, debootstrap and the Debian mirror.
#
#   tests/newcomer.sh [--keep] [--only 1]
#     --keep    leave the chroot (its path is printed) for a look afterwards
#     --only 1  run command 1 only
# Logs: <chroot>/root/newcomer-1.log and newcomer-2.log (also streamed here).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
keep=0
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --only) only="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "newcomer: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "newcomer: must run as root (debootstrap, chroot, mounts)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "newcomer: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 2; }

# The mirror this machine's apt uses (deb822 or one-line sources), else Debian's default.
mirror=$(grep -hoE '^URIs: *\S+/debian$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
[ -n "$mirror" ] || mirror=$(grep -hoE '^deb +\S+/debian ' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}')
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

root=$(mktemp -d /var/tmp/taskrunner-newcomer-XXXXXX)
# A real machine's / is 0755; mktemp's 0700 would become the chroot's / and keep every other uid
# out (the user code runs as nobody when started as root: docs/security.md).
chmod 0755 "$root"
# The chroot's / must be a mount point, as on any machine: `unshare --mount` makes / private,
# which fails (EINVAL) on a plain directory.
mount --bind "$root" "$root"
mounts=("$root")
cleanup() {
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null; done
  if [ "$keep" = 1 ]; then echo "newcomer: chroot kept at $root"; else rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT
start=$(date +%s)
echo "newcomer: debootstrap --variant=minbase bookworm $root ($mirror)"
if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1; then
  tail -20 "$root.debootstrap.log" >&2
  echo "newcomer: debootstrap failed" >&2
  exit 2
fi
rm -f "$root.debootstrap.log"
# Same apt sources as the debootstrap (bookworm + updates + security, main).
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The network's own certificate authorities (an egress proxy that re-signs TLS, as on this
# machine): the new machine would have them too. ca-certificates, installed by command 1, adds
# them to its store; nothing else of this machine goes in.
mkdir -p "$root/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
git clone --quiet --no-hardlinks "$repo" "$root/root/taskrunner" || exit 2
echo "newcomer: cloned $(git -C "$repo" rev-parse --short HEAD) into /root/taskrunner"
for m in proc sys dev dev/pts; do
  mkdir -p "$root/$m"
  case "$m" in
    proc) mount -t proc proc "$root/proc" ;;
    sys) mount --rbind /sys "$root/sys"; mount --make-rslave "$root/sys" ;;
    dev) mount --rbind /dev "$root/dev"; mount --make-rslave "$root/dev" ;;
    dev/pts) continue ;;
  esac
  mounts+=("$root/$m")
done

# The README's first two commands: its first two indented lines.
mapfile -t cmds < <(awk '/^    [^ ]/ {sub(/^    /, ""); print; n++} n == 2 {exit}' "$repo/README.md")
echo "newcomer: command 1: ${cmds[0]}"
echo "newcomer: command 2: ${cmds[1]}"
# Like a container: a mount namespace whose root *is* the new system (pivot_root, not only
# chroot), so programs that re-enter their mount namespace (Nix 2.8's `nix shell` does) stay in it.
run_in_chroot() {  # N COMMAND
  unshare --mount --fork /bin/sh -c '
    set -e
    mount --make-rprivate /
    cd "$1"
    mkdir -p .newcomer-oldroot
    pivot_root . .newcomer-oldroot
    cd /
    umount -l /.newcomer-oldroot
    rmdir /.newcomer-oldroot
    exec /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb \
      /bin/bash -c "$2"' sh "$root" \
    "cd /root/taskrunner && { $2; } 2>&1 | tee /root/newcomer-$1.log; exit \${PIPESTATUS[0]}" </dev/null
}
t1=$(date +%s)
run_in_chroot 1 "${cmds[0]}"
rc1=$?
d1=$(( $(date +%s) - t1 ))
rc2=skipped
d2=0
if [ "$only" != 1 ]; then
  t2=$(date +%s)
  run_in_chroot 2 "${cmds[1]}"
  rc2=$?
  d2=$(( $(date +%s) - t2 ))
fi
echo "newcomer: command 1 exit code $rc1 ($d1 s)"
echo "newcomer: command 2 exit code $rc2 ($d2 s)"
echo "newcomer: total $(( $(date +%s) - start )) s"
[ "$rc1" = 0 ] && { [ "$rc2" = 0 ] || [ "$rc2" = skipped ]; }
