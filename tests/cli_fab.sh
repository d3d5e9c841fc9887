#!/usr/bin/env bash
# CLI end to end for FAB on the shipped model (a few images, few
# iterations): the minimal-norm mode (no --eps) breaks every correctly
# classified image; with --eps every success is within the budget and the
# rest come back clean; FAB-T (--targeted --target top) runs one pass per
# target with one backward pass per step; explicit targets; the parameters
# land in summary.json; a bad norm or target count fails with one line.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
M=models/fmnist_cnn.onnx
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
N=8
[ -n "${GIBBON_TEST_SANITIZED:-}" ] && N=4

run() { # run NAME ARGS...: the attack must succeed and write summary.json
  local name=$1; shift
  if "$G" attack --model "$M" --data "fashion-mnist:test:$N" --attack fab --steps 10 --out "$tmp/$name" "$@" \
       >"$tmp/$name.log" 2>&1 && [ -s "$tmp/$name/summary.json" ]; then ok "$name"; else fail "$name"; cat "$tmp/$name.log"; fi
}
run linf
run l2     --norm l2 --eps 1.0
run l1     --norm l1 --steps 40
run fabt   --targeted --target top --target-classes 3 --eps 0.05
run target --norm l2 --targeted --target next --steps 40

if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  if /usr/bin/python3 - "$tmp" "$N" <<'PY'
import json, sys, numpy as np
d, n = sys.argv[1], int(sys.argv[2])
s = json.load(open(f"{d}/linf/summary.json"))
a = s["attack"]
assert a["name"] == "fab" and a["norm"] == "linf" and a["eps"] == 0, a
assert abs(a["alpha_max"] - 0.1) < 1e-6 and abs(a["eta"] - 1.05) < 1e-6 and abs(a["beta"] - 0.9) < 1e-6, a
assert s["success_rate"] == 1.0 and s["n"] == n, s           # minimal mode: every correct image broken
assert 0 < s["median_linf"] < 0.2, s
ex = json.load(open(f"{d}/linf/examples.json"))
# untargeted: K = 10 backward passes per step on each correctly classified image
assert all(e["grad_evals"] in (0, 100) for e in ex), [e["grad_evals"] for e in ex]
ex = json.load(open(f"{d}/l2/examples.json"))
assert all((e["success"] and e["l2"] <= 1.0 + 1e-5) or e["l2"] == 0 for e in ex), ex
adv = np.load(f"{d}/l2/adv.npy")
assert adv.shape == (n, 1, 28, 28) and adv.min() >= 0 and adv.max() <= 1
s = json.load(open(f"{d}/l1/summary.json"))
assert s["attack"]["norm"] == "l1" and s["success_rate"] >= 0.85 and s["median_l0"] < 392, s  # sparse
s = json.load(open(f"{d}/fabt/summary.json"))
assert s["attack"]["targeted"] and s["attack"]["n_target_classes"] == 3, s["attack"]
ex = json.load(open(f"{d}/fabt/examples.json"))
assert all(e["linf"] <= 0.05 + 1e-6 for e in ex), ex
assert all((e["success"] or e["linf"] == 0) for e in ex), ex
# FAB-T: one backward pass per step, a pass per target until broken within eps
assert all(e["grad_evals"] in (0, 10, 20, 30) for e in ex), [e["grad_evals"] for e in ex]
s = json.load(open(f"{d}/target/summary.json"))
assert s["attack"]["target"] == "next" and s["success_rate"] >= 0.5, s
ex = json.load(open(f"{d}/target/examples.json"))
assert all(e["adv_pred"] == e["target"] for e in ex if e["success"]), ex
PY
  then ok "summary/examples contents"; else fail "summary/examples contents"; fi
fi

expect_error() {
  local name=$1 pat=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then fail "$name (exit $rc)"; cat "$tmp/err"; return; fi
  if ! grep -q -- "$pat" "$tmp/err"; then fail "$name (stderr lacks '$pat')"; cat "$tmp/err"; return; fi
  ok "$name"
}
expect_error "fab l0"     "norm must be linf, l2 or l1" "$G" attack --model "$M" --data fashion-mnist:test:4 --attack fab --norm l0 --out "$tmp/x"
expect_error "fab l3"     "unknown norm" "$G" attack --model "$M" --attack fab --norm l3 --out "$tmp/x"
expect_error "fab top 0"  "target-classes" "$G" attack --model "$M" --data fashion-mnist:test:4 --attack fab --targeted --target top --target-classes 0 --out "$tmp/x"

if [ $fails -gt 0 ]; then echo "$fails FAB CLI checks failed"; exit 1; fi
echo "all FAB CLI checks passed"
