#!/usr/bin/env bash
# Installs the Debian bookworm packages taskrunner builds and tests with. Run as root.
#   --build-only   just what building the static binary needs (the image's builder stage)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
build=(build-essential cmake file ca-certificates
  libboost1.81-dev libboost-filesystem1.81-dev libboost-program-options1.81-dev
  libboost-url1.81-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libarchive-dev libzstd-dev liblz4-dev liblzma-dev libbz2-dev zlib1g-dev libacl1-dev
  libattr1-dev nettle-dev)
# Tests: Python for the end-to-end suites, Nix (system deps), buildah + debootstrap (the image
# test), linters, strace and util-linux (unshare).
tests=(git python3 nix-bin libgtest-dev clang-format clang-tidy strace util-linux
  buildah crun debootstrap)
apt-get update -qq
if [ "${1:-}" = "--build-only" ]; then
  apt-get install -y -qq --no-install-recommends "${build[@]}" >/dev/null
else
  apt-get install -y -qq --no-install-recommends "${build[@]}" "${tests[@]}" >/dev/null
fi
echo "install-deps: done"
