#!/usr/bin/env bash
# The main job on the embedded default: load the shipped Fashion-MNIST CNN,
# report its clean accuracy, run FGSM over the whole test set at several
# budgets, and write adversarial images, per-example results, summary.json
# and the classic figure to out/fgsm/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh build
make -j"$(nproc)" BUILD=release >/dev/null
out=${1:-out/fgsm}
build/release/gibbon attack --model models/fmnist_cnn.onnx --data fashion-mnist:test \
  --attack fgsm --eps 0.01,0.02,0.05,0.1,0.2 --out "$out"
echo "results: $out/summary.json   figure: $out/figure.png"
