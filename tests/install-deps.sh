#!/usr/bin/env bash
# Installs the Debian bookworm packages taskrunner builds and tests with. Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake file git ca-certificates python3 \
  libboost1.81-dev libboost-filesystem1.81-dev libboost-program-options1.81-dev \
  libboost-url1.81-dev libspdlog-dev libfmt-dev nlohmann-json3-dev \
  libarchive-dev libzstd-dev liblz4-dev liblzma-dev libbz2-dev zlib1g-dev libacl1-dev \
  libattr1-dev nettle-dev nix-bin libgtest-dev clang-format clang-tidy strace util-linux >/dev/null
echo "install-deps: done"
