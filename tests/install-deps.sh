#!/usr/bin/env bash
# Installs the Debian bookworm packages taskrunner builds and tests with. Run as root.
#   --build-only   just what building the static binary needs (the image's builder stage)
# Everything the tests, the demo and the benchmarks use comes from here: the test interpreter is
# Debian's /usr/bin/python3, and the loopback index's wheels are repacked from Debian's python3-*
# packages (tests/fixtures/build_index.py).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
build=(build-essential cmake file ca-certificates
  libboost1.81-dev libboost-filesystem1.81-dev libboost-program-options1.81-dev
  libboost-url1.81-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libarchive-dev libzstd-dev liblz4-dev liblzma-dev libbz2-dev zlib1g-dev libacl1-dev
  libattr1-dev nettle-dev)
# Tests: Python for the end-to-end suites, Nix (system deps), buildah + debootstrap (the image
# test), linters, strace and util-linux (unshare), sshfs + sshd (network file system runs),
# xfsprogs + e2fsprogs (loop-mounted xfs with reflinks and ext4, filefrag: uv's link modes),
# zstd (tar -I zstd in the benchmarks), promtool + the Pushgateway + lnav (metrics and log
# tooling), Node.js (the manifests' schema check; its npm packages: tests/k8s-schema), clang +
# compiler-rt (libFuzzer, ASan, UBSan: tests/fuzz), dnsmasq (a DNS server on loopback:
# tests/e2e/test_any_base.py; dnsmasq-base has no system service to start).
tests=(git python3 python3-venv python3-pip nix-bin libgtest-dev clang-format clang-tidy strace
  util-linux buildah crun debootstrap sshfs openssh-server openssh-client xfsprogs e2fsprogs
  mount zstd xz-utils tar prometheus prometheus-pushgateway lnav nodejs
  python3-matplotlib clang libclang-rt-14-dev dnsmasq-base)
# The distributions the loopback index is built from (tests/fixtures/build_index.py SETS):
# base set, the benchmarks' bench set and the heavy set (numpy, pandas, scipy).
wheels=(python3-requests python3-urllib3 python3-idna python3-charset-normalizer python3-chardet
  python3-certifi python3-pydantic python3-typing-extensions python3-jsonschema python3-attr
  python3-pyrsistent python3-six python3-dateutil python3-markupsafe python3-jinja2 python3-yaml
  python3-sympy python3-mpmath python3-networkx python3-boto3 python3-botocore python3-jmespath
  python3-s3transfer python3-numpy python3-pandas python3-tz python3-decorator)
# python3-scipy depends (through python3-pythran) on libboost-dev 1.74, which conflicts with
# libboost1.81-dev: its .deb is downloaded and unpacked instead, with the libraries it links.
unpacked=(python3-scipy)
scipy_runtime=(libgfortran5 liblbfgsb0 libblas3 liblapack3 libstdc++6)
apt-get update -qq
if [ "${1:-}" = "--build-only" ]; then
  apt-get install -y -qq --no-install-recommends "${build[@]}" >/dev/null
  echo "install-deps: done (build only)"
  exit 0
fi
apt-get install -y -qq --no-install-recommends "${build[@]}" "${tests[@]}" "${wheels[@]}" \
  "${scipy_runtime[@]}" >/dev/null
debs=/var/lib/taskrunner-tests/debs  # read by tests/fixtures/build_index.py (UNPACKED)
mkdir -p "$debs"
for pkg in "${unpacked[@]}"; do
  version=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
  stamp="$debs/$pkg.version"
  if [ -f "$debs/$pkg.deb" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then continue; fi
  tmp=$(mktemp -d "$debs/.tmp-XXXXXX")
  # apt's _apt user downloads into a directory it can write.
  chown _apt "$tmp" 2>/dev/null || true
  (cd "$tmp" && apt-get download -qq "$pkg=$version")
  rm -rf "${debs:?}/$pkg" "$debs/$pkg.deb"
  dpkg-deb -x "$tmp"/*.deb "$debs/$pkg"
  mv "$tmp"/*.deb "$debs/$pkg.deb"
  echo "$version" > "$stamp"
  rm -rf "$tmp"
done
# Debian's nodejs comes without npm; a Node.js that brings its own npm needs no second one.
command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends npm >/dev/null
# The schema check's packages, exactly as its lockfile pins them (from the npm registry).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
npm ci --prefix "$here/k8s-schema" --no-audit --no-fund --loglevel=error >/dev/null
echo "install-deps: done"
