#!/usr/bin/env bash
# The main job on the embedded default: how robust are the shipped
# Fashion-MNIST models, really?
#  1. FGSM over the whole test set at several budgets, with the classic
#     figure (out/main/fgsm/figure.png);
#  2. the AutoAttack ensemble (APGD-CE, APGD-T, FAB-T, Square) on the
#     first N_PLAIN test images at eps 0.05 and 0.1 against the plain CNN,
#     and on the first N_ROBUST at eps 0.1 against the PGD-trained CNN, each
#     with its HTML report;
#  3. the defense comparison in both reports: the plain CNN, the PGD-trained
#     CNN, and the plain CNN behind a bit-depth front (bits:4) attacked by
#     APGD-CE naively (true gradient: zero, "robust", flagged) and adaptively
#     (BPDA), on the first N_ROBUST images (~25 s of CPU for the two).
# n is chosen so the whole job takes under 10 minutes on 2 cores: the plain
# model breaks within APGD-CE's 100 steps, while on the robust one every
# surviving example pays for APGD-T's and FAB-T's 9 targets and Square's
# 5,000 queries. Rerunning continues an interrupted evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh build
make -j"$(nproc)" BUILD=release >/dev/null
out=${1:-out/main}
N_PLAIN=${N_PLAIN:-1000}
N_ROBUST=${N_ROBUST:-200}
G=build/release/gibbon

$G attack --model models/fmnist_cnn.onnx --data fashion-mnist:test \
  --attack fgsm --eps 0.01,0.02,0.05,0.1,0.2 --out "$out/fgsm"
echo
$G eval --model models/fmnist_cnn.onnx -n "$N_PLAIN" --eps 0.05,0.1 --out "$out/fmnist_cnn"
compare=$out/fmnist_cnn
if [ -f models/fmnist_cnn_pgd.onnx ]; then
  echo
  $G eval --model models/fmnist_cnn_pgd.onnx -n "$N_ROBUST" --eps 0.1 --out "$out/fmnist_cnn_pgd"
  compare=$compare,$out/fmnist_cnn_pgd
fi
echo
$G eval --model models/fmnist_cnn.onnx -n "$N_ROBUST" --eps 0.1 --attacks apgd-ce --defense bits:4 --out "$out/bits4_naive"
$G eval --model models/fmnist_cnn.onnx -n "$N_ROBUST" --eps 0.1 --attacks apgd-ce --defense bits:4 --bpda --out "$out/bits4_bpda"
compare=$compare,$out/bits4_naive,$out/bits4_bpda
echo
$G report --in "$out/fmnist_cnn" --compare "$compare"
[ -f models/fmnist_cnn_pgd.onnx ] && $G report --in "$out/fmnist_cnn_pgd" --compare "$compare"
echo
echo "FGSM:             $out/fgsm/summary.json, figure $out/fgsm/figure.png"
echo "plain CNN:        $out/fmnist_cnn/report.html (with the defense comparison)"
[ -f models/fmnist_cnn_pgd.onnx ] && echo "PGD-trained CNN:  $out/fmnist_cnn_pgd/report.html"
exit 0
