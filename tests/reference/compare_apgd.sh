#!/usr/bin/env bash
# gibbon's APGD-CE and APGD-T (targeted DLR over the top 9 wrong classes, 100
# iterations each) against the independent PyTorch port written from the
# paper (apgd_torch.py), on the same ONNX models and test images: robust
# accuracy must agree within 1 percentage point for every model and eps.
# Slow (tens of minutes for N = 1000 on 2 cores); not in the default run
# (tests/cli_apgd_ref.sh is the small, fast version).
#   bash tests/reference/compare_apgd.sh [N]          (from the project root)
# Environment: GIBBON (default build/release/gibbon), MODELS (space-separated;
# default the shipped models: the plain and the PGD-trained CNN), EPS (default 0.1,0.05), ITERS (100), TARGETS (9), VARIANT (paper,
# or code: the authors' published code's step-size details), OUT.
set -eu
cd "$(dirname "$0")/../.."
G=${GIBBON:-build/release/gibbon}
N=${1:-1000}
EPS=${EPS:-0.1,0.05}
ITERS=${ITERS:-100}
TARGETS=${TARGETS:-9}
VARIANT=${VARIANT:-paper}
if [ -z "${MODELS:-}" ]; then
  MODELS=models/fmnist_cnn.onnx
  [ -f models/fmnist_cnn_pgd.onnx ] && MODELS="$MODELS models/fmnist_cnn_pgd.onnx"
fi
out=${OUT:-out/reference_apgd}
mkdir -p "$out"
for M in $MODELS; do
  tag=$(basename "$M" .onnx)
  IFS=, read -ra epss <<<"$EPS"
  for e in "${epss[@]}"; do
    "$G" attack --model "$M" --data "fashion-mnist:test:$N" --attack apgd --steps "$ITERS" --eps "$e" \
      --out "$out/$tag/gibbon_ce_$e" >/dev/null
    "$G" attack --model "$M" --data "fashion-mnist:test:$N" --attack apgd --loss dlr --targeted --target top \
      --target-classes "$TARGETS" --steps "$ITERS" --eps "$e" --out "$out/$tag/gibbon_t_$e" >/dev/null
  done
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tests/reference/apgd_torch.py --model "$M" --n "$N" --eps "$EPS" \
    --iters "$ITERS" --targets "$TARGETS" --variant "$VARIANT" --attacks apgd-ce,apgd-t --json "$out/$tag/torch.json"
done
/usr/bin/python3 - "$out" $MODELS <<'PY'
import json, os, sys
out, models = sys.argv[1], sys.argv[2:]
bad = 0
print(f"{'model':22s} {'attack':8s} {'eps':>5s} {'gibbon':>8s} {'torch':>8s} {'diff':>6s}  grad evals gibbon / torch")
for m in models:
    tag = os.path.basename(m)[:-5]
    for r in json.load(open(f"{out}/{tag}/torch.json")):
        short = "ce" if r["attack"] == "apgd-ce" else "t"
        s = json.load(open(f"{out}/{tag}/gibbon_{short}_{r['eps']:g}/summary.json"))
        d = s["robust_accuracy"] - r["robust_accuracy"]
        ok = abs(d) <= 0.01 + 1e-9
        bad += not ok
        print(f"{tag:22s} {r['attack']:8s} {r['eps']:5g} {s['robust_accuracy']:8.4f} {r['robust_accuracy']:8.4f} "
              f"{100 * d:+5.1f}pt  {s['grad_evals']} / {r['grad_evals']}  {'ok' if ok else 'DISAGREE'}")
sys.exit(1 if bad else 0)
PY
