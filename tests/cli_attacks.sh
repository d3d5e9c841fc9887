#!/usr/bin/env bash
# CLI end to end for the attack suite on the shipped model (small subsets,
# few iterations): every attack runs and writes its files; the eps sweep
# writes robust_vs_eps.{csv,svg}; --grid writes a PNG; summary.json keeps
# the base fields and adds the new ones; bad --norm/--loss/--target fail
# with one line.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
M=models/fmnist_cnn.onnx
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
N=40
[ -n "${GIBBON_TEST_SANITIZED:-}" ] && N=12

run() { # run NAME ARGS...: the attack must succeed and write summary.json
  local name=$1; shift
  if "$G" attack --model "$M" --data "fashion-mnist:test:$N" --out "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1 &&
     [ -s "$tmp/$name/summary.json" -o -s "$tmp/$name/robust_vs_eps.csv" ]; then ok "$name"; else fail "$name"; cat "$tmp/$name.log"; fi
}
run pgd      --attack pgd --eps 0.02,0.05,0.1 --steps 10 --grid 8
run pgd-l2   --attack pgd --norm l2 --eps 1.0 --steps 10
run pgd-l1   --attack pgd --norm l1 --eps 8 --steps 10
run pgd-cw   --attack pgd --loss cw --eps 0.1 --steps 10 --early-stop
run fgm      --attack fgm --eps 1.5
run bim      --attack bim --eps 0.05
run ill      --attack ill --eps 0.1
run mifgsm   --attack mifgsm --eps 0.1
run cw-l2    --attack cw-l2 --steps 30 --binary-steps 2 --lr 0.05 --initial-const 0.1
run cw-linf  --attack cw-linf --eps 0.1 --steps 10
run deepfool --attack deepfool
run df-linf  --attack deepfool --norm linf
run jsma     --attack jsma --targeted --target ll --gamma 0.05
run apgd     --attack apgd --steps 10 --eps 0.1
run apgd-t   --attack apgd --loss dlr --targeted --target random --steps 10 --eps 0.1

for f in robust_vs_eps.csv robust_vs_eps.svg summary.json eps_0.05/grid.png eps_0.05/adv.npy; do
  [ -s "$tmp/pgd/$f" ] && ok "sweep wrote $f" || fail "sweep missing $f"
done
[ "$(wc -l <"$tmp/pgd/robust_vs_eps.csv")" -eq 4 ] && ok "3 rows in robust_vs_eps.csv" || fail "robust_vs_eps.csv rows"
grep -q "<polyline" "$tmp/pgd/robust_vs_eps.svg" && ok "svg has the curve" || fail "svg curve"

if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  if /usr/bin/python3 - "$tmp" "$N" <<'PY'
import json, sys, numpy as np
d, n = sys.argv[1], int(sys.argv[2])
for name in ("pgd-l2", "cw-l2", "deepfool", "jsma", "apgd-t", "ill"):
    s = json.load(open(f"{d}/{name}/summary.json"))
    for k in ("clean_accuracy", "robust_accuracy", "success_rate", "n", "time_s", "attack",
              "mean_l0", "median_l2", "images_per_s", "grad_evals"):
        assert k in s, (name, k)
    assert s["n"] == n
s = json.load(open(f"{d}/pgd-l2/summary.json"))
assert s["attack"]["norm"] == "l2"
ex = json.load(open(f"{d}/pgd-l2/examples.json"))
assert all(e["l2"] <= 1.0 + 1e-5 for e in ex) and all(e["grad_evals"] == 10 for e in ex)
ex = json.load(open(f"{d}/pgd-l1/examples.json"))
a = np.load(f"{d}/pgd-l1/adv.npy")
assert a.min() >= 0 and a.max() <= 1
ex = json.load(open(f"{d}/jsma/examples.json"))
assert all(e["l0"] <= int(0.05 * 784) for e in ex) and all("target" in e for e in ex)
s = json.load(open(f"{d}/ill/summary.json"))
assert s["attack"]["targeted"] and s["attack"]["target"] == "ll"
s = json.load(open(f"{d}/deepfool/summary.json"))
assert s["success_rate"] > 0.9, s["success_rate"]
s = json.load(open(f"{d}/cw-l2/summary.json"))
assert s["success_rate"] > 0.8 and s["mean_l2"] < 2, s
top = json.load(open(f"{d}/pgd/summary.json"))
r = [x["robust_accuracy"] for x in top["runs"]]
assert r[0] >= r[1] >= r[2], r
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
expect_error "bad norm" "unknown norm" "$G" attack --model "$M" --norm l3 --out "$tmp/x"
expect_error "bad loss" "unknown loss" "$G" attack --model "$M" --loss mse --out "$tmp/x"
expect_error "bad target" "target" "$G" attack --model "$M" --targeted --target nope --out "$tmp/x"
expect_error "apgd l1" "norm must be" "$G" attack --model "$M" --data fashion-mnist:test:4 --attack apgd --norm l1 --eps 1 --out "$tmp/x"

if [ $fails -gt 0 ]; then echo "$fails attack CLI checks failed"; exit 1; fi
echo "all attack CLI checks passed"
