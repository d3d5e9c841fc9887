#!/usr/bin/env bash
# Installs the Debian packages gibbon needs, skipping apt entirely when they
# are all present (idempotent). Usage: scripts/install-deps.sh [build|test|bench]
set -euo pipefail
what=${1:-build}
pkgs=(gcc make libc6-dev libopenblas-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
      zlib1g-dev libpng-dev dataset-fashion-mnist)
case "$what" in
  build) ;;
  test) pkgs+=(clang libomp-dev libclang-rt-14-dev python3 python3-numpy python3-onnx libonnx-testdata python3-torch
                python3-torchvision chromium libopenmpi-dev openmpi-bin) ;;
  bench) pkgs+=(python3 python3-numpy python3-torch) ;;
  *) echo "install-deps.sh: unknown set '$what' (build, test or bench)" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
