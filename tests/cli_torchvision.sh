#!/usr/bin/env bash
# gibbon against PyTorch on torchvision models: generates the ONNX exports,
# inputs, logits and input gradients with tests/golden/make_torchvision.py
# into a temporary directory (too big to commit), then runs test_torchvision
# on them. Needs Debian's /usr/bin/python3 with torch and torchvision; skips
# without them, and under the sanitizers (GIBBON_TEST_SANITIZED=1), where
# three ImageNet-sized networks would take minutes.
set -u
cd "$(dirname "$0")/.."
bin=${TESTBIN:-$(dirname "${GIBBON:-build/release/gibbon}")/tests}/test_torchvision
py=/usr/bin/python3
if [ "${GIBBON_TEST_SANITIZED:-0}" = 1 ]; then echo "SKIP cli_torchvision: sanitized build"; exit 0; fi
if [ ! -x "$bin" ]; then echo "FAIL cli_torchvision: no test binary at $bin"; exit 1; fi
if ! "$py" -c 'import torch, torchvision, onnx' 2>/dev/null; then
  echo "SKIP cli_torchvision: $py lacks torch, torchvision or onnx"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$py" tests/golden/make_torchvision.py "$tmp" >"$tmp/gen.log" 2>&1; then
  echo "FAIL cli_torchvision: generator failed"; cat "$tmp/gen.log"; exit 1
fi
GB_TORCHVISION_DIR="$tmp" "$bin"
