#!/usr/bin/env bash
# ONNX export checked by onnxruntime (npm onnxruntime-node, pinned in
# tests/ort/package-lock.json): test_export writes the zoo's cnn (Dropout)
# and resnet (BatchNorm) and the shipped models/fmnist_cnn.onnx, a fixed
# input and gibbon's logits; tests/ort/compare.js runs each file in
# onnxruntime and requires max |ort - gibbon| <= 1e-5.
# onnxruntime-node is installed into tests/ort/node_modules on first use
# (its CPU binary ships in the package; the CUDA download is skipped). Without
# node/npm, or when npm cannot reach the registry, the test says SKIP.
set -u
cd "$(dirname "$0")/.."
bin=${TESTBIN:-$(dirname "${GIBBON:-build/release/gibbon}")/tests}/test_export
if [ ! -x "$bin" ]; then echo "FAIL cli_ort: no test binary at $bin"; exit 1; fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then echo "SKIP cli_ort: no node/npm"; exit 0; fi
if [ ! -f tests/ort/node_modules/onnxruntime-node/package.json ]; then
  echo "installing onnxruntime-node into tests/ort/node_modules"
  if ! (cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error) >/tmp/gibbon_npm.$$ 2>&1; then
    echo "SKIP cli_ort: npm could not install onnxruntime-node (no network?): $(tail -1 /tmp/gibbon_npm.$$)"
    rm -f /tmp/gibbon_npm.$$
    exit 0
  fi
  rm -f /tmp/gibbon_npm.$$
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! GB_ORT_DIR="$tmp" "$bin" >"$tmp/log" 2>&1; then
  echo "FAIL cli_ort: $bin failed"; cat "$tmp/log"; exit 1
fi
node tests/ort/compare.js "$tmp" 1e-5
