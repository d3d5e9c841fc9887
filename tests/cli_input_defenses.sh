#!/usr/bin/env bash
# CLI end to end for input transformations, feature squeezing and randomized
# smoothing: `attack --defense` with and without --bpda (gradient masking vs
# BPDA), --eot recorded, `detect` and `certify` outputs, Gaussian-noise
# training, and bad flags refused with one-line errors.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
PY=/usr/bin/python3
M=models/fmnist_cnn.onnx

expect_error() {
  local name=$1 pat=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then fail "$name (exit $rc)"; cat "$tmp/err"; return; fi
  if ! grep -q -- "$pat" "$tmp/err"; then fail "$name (stderr lacks '$pat')"; cat "$tmp/err"; return; fi
  ok "$name"
}

# A number from a JSON file: json FILE KEY
json() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

A="--model $M --data fashion-mnist:test:60 --attack pgd --eps 0.1 --steps 5"
if "$G" attack $A --defense bits:4 --out "$tmp/mask" >/dev/null 2>"$tmp/e1" &&
   "$G" attack $A --defense bits:4 --bpda --out "$tmp/bpda" >/dev/null 2>"$tmp/e2"; then
  masked=$(json "$tmp/mask/summary.json" robust_accuracy)
  broken=$(json "$tmp/bpda/summary.json" robust_accuracy)
  clean=$(json "$tmp/mask/summary.json" clean_accuracy)
  if $PY -c "import sys; m,b,c=map(float,sys.argv[1:]); sys.exit(0 if m >= c - 0.25 and b <= 0.2 else 1)" \
      "$masked" "$broken" "$clean"; then
    ok "bits:4: masked robust $masked, BPDA $broken (clean $clean)"
  else
    fail "bits:4: masked robust $masked, BPDA $broken (clean $clean)"
  fi
else
  fail "attack --defense"; cat "$tmp/e1" "$tmp/e2"
fi

if "$G" attack $A --defense resize-pad:0.8 --eot 3 --out "$tmp/eot" >/dev/null 2>"$tmp/e3"; then
  eot=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['attack']['eot_samples'])" "$tmp/eot/summary.json")
  [ "$eot" = 3 ] && ok "--eot recorded" || fail "--eot recorded ($eot)"
else
  fail "attack --eot"; cat "$tmp/e3"
fi

if "$G" detect --model $M --data fashion-mnist:test:200 --eps 0.1 --squeezers bits:4,median:2 --out "$tmp/det" \
    >"$tmp/det.out" 2>"$tmp/e4"; then
  $PY - "$tmp/det" <<'EOF' && ok "detect outputs" || fail "detect outputs"
import csv, json, sys
d = sys.argv[1]
j = json.load(open(d + "/detect.json"))
rows = list(csv.DictReader(open(d + "/scores.csv")))
assert j["n_threshold"] == 100 and j["n_eval"] == 100 and len(rows) == 100
t = j["threshold"]
# The reported rates are what the per-example scores say.
fpr = sum(float(r["clean_score"]) > t for r in rows) / 100
det = sum(float(r["adv_score"]) > t for r in rows) / 100
assert abs(fpr - j["fpr"]) < 1e-9 and abs(det - j["detection_rate"]) < 1e-9, (fpr, det, j)
assert 0 <= j["roc_auc"] <= 1
EOF
else
  fail "detect"; cat "$tmp/e4"
fi

if "$G" certify --model $M --data fashion-mnist:test:4 --sigma 0.25 -n 4 --samples 500 --batch 250 --predict \
    --out "$tmp/cert" >/dev/null 2>"$tmp/e5"; then
  $PY - "$tmp/cert" <<'EOF' && ok "certify outputs" || fail "certify outputs"
import csv, json, sys
from statistics import NormalDist
d = sys.argv[1]
j = json.load(open(d + "/summary.json"))
rows = list(csv.DictReader(open(d + "/certify.csv")))
assert j["n"] == 4 and len(rows) == 4
for r in rows:
    pa, rad, pred = float(r["pa_lower"]), float(r["radius"]), int(r["predict"])
    # radius = sigma * Phi^-1(pA_lower), abstain below 1/2 (Python's own normal quantile)
    if pa < 0.5:
        assert pred == -1 and rad == 0
    else:
        assert abs(rad - 0.25 * NormalDist().inv_cdf(pa)) < 1e-5, (rad, pa)
acc = list(csv.DictReader(open(d + "/certified_accuracy.csv")))
assert float(acc[0]["radius"]) == 0 and abs(float(acc[0]["certified_accuracy"]) - j["certify_accuracy"]) < 1e-6
assert open(d + "/certified_accuracy.svg").read().lstrip().startswith("<svg")
EOF
else
  fail "certify"; cat "$tmp/e5"
fi

D="--data fashion-mnist:train:256 --test none --arch conv4-fc16 --batch 64 --epochs 1"
if "$G" train $D --noise-sigma 0.25 --out "$tmp/n.onnx" >/dev/null 2>"$tmp/e6" &&
   "$G" train $D --out "$tmp/p.onnx" >/dev/null 2>"$tmp/e7"; then
  cmp -s "$tmp/n.onnx" "$tmp/p.onnx" && fail "--noise-sigma changes nothing" || ok "train --noise-sigma"
else
  fail "train --noise-sigma"; cat "$tmp/e6" "$tmp/e7"
fi

expect_error "unknown defense" "unknown defense" "$G" attack $A --defense blur:3 --out "$tmp/x"
expect_error "bad jpeg quality" "quality" "$G" eval --model $M --data fashion-mnist:test:8 --defense jpeg:0
expect_error "negative noise" "noise-sigma" "$G" train $D --noise-sigma -1 --out "$tmp/y.onnx"
expect_error "certify without sigma" "sigma" "$G" certify --model $M --out "$tmp/c2"
expect_error "certify bad alpha" "alpha" "$G" certify --model $M --sigma 0.25 --alpha 2 --out "$tmp/c3"
expect_error "detect bad squeezer" "squeezers" "$G" detect --model $M --squeezers bits:0 --out "$tmp/d2"
expect_error "detect bad fpr" "fpr" "$G" detect --model $M --fpr 1.5 --out "$tmp/d3"
[ ! -e "$tmp/c2" ] && [ ! -e "$tmp/d2" ] && ok "no output on bad flags" || fail "output written on bad flags"

[ $fails -eq 0 ]
