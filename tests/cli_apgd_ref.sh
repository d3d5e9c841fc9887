#!/usr/bin/env bash
# gibbon's APGD against the independent PyTorch port written from the paper
# (tests/reference/apgd_torch.py), small and fast: the shipped model, the
# first 50 test images, eps 0.03 (where about 40% survive, so a broken attack
# on either side shows), 20 iterations, APGD-CE and APGD-T over the top 2
# wrong classes. Robust accuracies must agree within 3 images (the random
# starts differ); APGD-CE's gradient evaluations must be equal exactly
# (iterations + 1 per correctly classified example: both skip the others).
# tests/reference/compare_apgd.sh is the full-size comparison.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
PY=/usr/bin/python3
M=models/fmnist_cnn.onnx
if ! "$PY" -c 'import torch, onnx' 2>/dev/null; then
  echo "SKIP cli_apgd_ref: $PY lacks torch/onnx (bash scripts/install-deps.sh test)"; exit 0
fi
[ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || { echo "SKIP cli_apgd_ref: no Fashion-MNIST"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
N=50 STEPS=20 EPS=0.03 TC=2
[ -n "${GIBBON_TEST_SANITIZED:-}" ] && N=30 STEPS=10
fails=0
g() { local name=$1; shift
  "$G" attack --model "$M" --data "fashion-mnist:test:$N" --eps $EPS --steps $STEPS --out "$tmp/$name" "$@" \
    >"$tmp/$name.log" 2>&1 || { echo "FAIL gibbon $name"; cat "$tmp/$name.log"; fails=$((fails + 1)); }
}
bad() { # bad NAME EXPECTED ARGS...: one-line error naming the problem, exit 2, no output
  local name=$1 want=$2; shift 2
  "$G" attack --model "$M" --data fashion-mnist:test:4 --out "$tmp/bad" "$@" >"$tmp/bad.log" 2>&1
  local rc=$?
  if [ $rc -eq 2 ] && grep -q -- "$want" "$tmp/bad.log" && [ ! -e "$tmp/bad" ]; then echo "ok   $name"
  else echo "FAIL $name (exit $rc)"; cat "$tmp/bad.log"; fails=$((fails + 1)); fi
}
bad "--target top on pgd" "only apgd and fab" --attack pgd --targeted --target top
bad "--target-classes 0" "target-classes must be at least 1" --attack apgd --loss dlr --targeted --target top --target-classes 0
g ce --attack apgd
g t --attack apgd --loss dlr --targeted --target top --target-classes $TC
OPENBLAS_NUM_THREADS=1 "$PY" tests/reference/apgd_torch.py --model "$M" --n $N --eps $EPS --iters $STEPS \
  --targets $TC --attacks apgd-ce,apgd-t --json "$tmp/torch.json" >"$tmp/torch.log" 2>&1 ||
  { echo "FAIL apgd_torch.py"; cat "$tmp/torch.log"; exit 1; }
"$PY" - "$tmp" "$N" <<'PY' || fails=$((fails + 1))
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
ref = {r["attack"]: r for r in json.load(open(d + "/torch.json"))}
bad = 0
for name, key in (("ce", "apgd-ce"), ("t", "apgd-t")):
    s, r = json.load(open(f"{d}/{name}/summary.json")), ref[key]
    diff = abs(s["robust_accuracy"] - r["robust_accuracy"]) * n
    ok = diff <= 3 + 1e-6 and abs(s["clean_accuracy"] - r["clean_accuracy"]) < 1e-4
    if key == "apgd-ce":
        ok = ok and s["grad_evals"] == r["grad_evals"]
    print(f"{'ok  ' if ok else 'FAIL'} {key}: robust gibbon {s['robust_accuracy']:.3f} torch {r['robust_accuracy']:.3f} "
          f"({diff:.0f} images apart), grad evals {s['grad_evals']} / {r['grad_evals']}")
    bad += not ok
sys.exit(1 if bad else 0)
PY
[ $fails -eq 0 ] && echo "cli_apgd_ref: passed" || { echo "cli_apgd_ref: $fails failed"; exit 1; }
