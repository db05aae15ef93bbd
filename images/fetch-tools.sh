#!/usr/bin/env bash
# Downloads the pinned uv and nix-portable into images/tools/ and checks their sha256.
# Pins: change the versions AND the hashes together (uv: the release's .sha256 files;
# nix-portable: compute once from a trusted download).
set -euo pipefail
cd "$(dirname "$0")/tools"
UV_VERSION="${UV_VERSION:-0.5.11}"
NIX_PORTABLE_VERSION="${NIX_PORTABLE_VERSION:-v012}"
arch="$(uname -m)"
curl -fsSL -o uv.tar.gz \
  "https://github.com/astral-sh/uv/releases/download/${UV_VERSION}/uv-${arch}-unknown-linux-musl.tar.gz"
curl -fsSL -o uv.tar.gz.sha256 \
  "https://github.com/astral-sh/uv/releases/download/${UV_VERSION}/uv-${arch}-unknown-linux-musl.tar.gz.sha256"
echo "$(cut -d' ' -f1 uv.tar.gz.sha256)  uv.tar.gz" | sha256sum -c -
tar -xzf uv.tar.gz --strip-components=1 "uv-${arch}-unknown-linux-musl/uv"
rm -f uv.tar.gz uv.tar.gz.sha256
curl -fsSL -o nix-portable \
  "https://github.com/DavHau/nix-portable/releases/download/${NIX_PORTABLE_VERSION}/nix-portable-${arch}"
if [ -n "${NIX_PORTABLE_SHA256:-}" ]; then
  echo "${NIX_PORTABLE_SHA256}  nix-portable" | sha256sum -c -
fi
chmod 0755 uv nix-portable
./uv --version
