#!/usr/bin/env bash
# CLI end to end for the road-sign set and the physical-world metrics:
# `gibbon data signs` writes its files deterministically, `gibbon universal`
# and `gibbon destruction` run on the shipped sign model and write their
# outputs, and bad flags are refused with a message naming the flag.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
M=models/signs_cnn.onnx
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

expect_error() {
  local name=$1 pat=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then fail "$name (exit $rc)"; cat "$tmp/err"; return; fi
  if ! grep -q -- "$pat" "$tmp/err"; then fail "$name (stderr lacks '$pat')"; cat "$tmp/err"; return; fi
  ok "$name"
}

if "$G" data signs --out "$tmp/a" -n 30 --seed 3 >/dev/null 2>"$tmp/err" &&
   "$G" data signs --out "$tmp/b" --n 30 --seed 3 >/dev/null 2>>"$tmp/err"; then
  if [ -s "$tmp/a/images.npy" ] && [ -s "$tmp/a/labels.npy" ] && [ -s "$tmp/a/contact.png" ] &&
     grep -q "^3 speed 50$" "$tmp/a/classes.txt" && cmp -s "$tmp/a/images.npy" "$tmp/b/images.npy"; then
    ok "data signs writes a deterministic set"
  else
    fail "data signs outputs"; ls -l "$tmp/a"
  fi
  # The written pair loads back as a data set.
  if "$G" eval --model "$M" --data "$tmp/a/images.npy,$tmp/a/labels.npy" >"$tmp/eval" 2>&1; then
    ok "written set evaluates"
  else
    fail "written set evaluates"; cat "$tmp/eval"
  fi
else
  fail "data signs runs"; cat "$tmp/err"
fi

expect_error "data without a set"      "name the set"       "$G" data --out "$tmp/x"
expect_error "data unknown set"        "unknown set 'cars'" "$G" data cars --out "$tmp/x"
expect_error "data without --out"      "--out is required"  "$G" data signs -n 5
expect_error "data bad -n"             "not a positive"     "$G" data signs --out "$tmp/x" -n 0
expect_error "data bad --size"         "--size"             "$G" data signs --out "$tmp/x" --size 4
expect_error "data non-numeric -n"     "not a valid integer" "$G" data signs --out "$tmp/x" -n many

D="--model $M --data signs:test:40"
if "$G" universal $D --test signs:train:40 --method sgd --eps 0.06 --passes 2 --out "$tmp/u" >"$tmp/u.out" 2>&1; then
  if [ -s "$tmp/u/delta.npy" ] && [ -s "$tmp/u/delta.png" ] && [ -s "$tmp/u/examples.png" ] &&
     /usr/bin/python3 - "$tmp/u" <<'PY'
import json, sys, numpy as np
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
v = np.load(d + "/delta.npy")
assert v.shape[0] == 1 and v.shape[1] == 3, v.shape
assert np.abs(v).max() <= np.float32(0.06), np.abs(v).max()
assert abs(s["linf"] - float(np.abs(v).max())) < 1e-5
for k in ("fooling_rate_fit", "fooling_rate_test", "fooling_rate_random"):
    assert 0 <= s[k] <= 1, k
PY
  then ok "universal outputs"; else fail "universal outputs"; cat "$tmp/u.out"; fi
else
  fail "universal runs"; cat "$tmp/u.out"
fi
expect_error "universal without --eps" "required"            "$G" universal $D --out "$tmp/x"
expect_error "universal bad norm"      "--norm: 'l1'"        "$G" universal $D --eps 0.1 --norm l1 --out "$tmp/x"
expect_error "universal bad method"    "--method: 'adam'"    "$G" universal $D --eps 0.1 --method adam --out "$tmp/x"
expect_error "universal bad eps"       "--eps"               "$G" universal $D --eps 2 --out "$tmp/x"
expect_error "universal bad rate"      "--rate"              "$G" universal $D --eps 0.1 --rate 0 --out "$tmp/x"
expect_error "universal missing model" "nope.onnx"           "$G" universal --model "$tmp/nope.onnx" --data signs:test:5 --eps 0.1 --out "$tmp/x"

if "$G" destruction $D --attacks fgsm,bim --eps 0.05 --transforms blur,photo --out "$tmp/d" >"$tmp/d.out" 2>&1; then
  if [ "$(wc -l <"$tmp/d/destruction.csv")" -eq 5 ] && grep -q '"destruction_rate"' "$tmp/d/destruction.json" &&
     grep -q "^bim,0.05,photo," "$tmp/d/destruction.csv"; then
    ok "destruction table"
  else
    fail "destruction table"; cat "$tmp/d.out" "$tmp/d/destruction.csv"
  fi
else
  fail "destruction runs"; cat "$tmp/d.out"
fi
expect_error "destruction bad attack"    "'pgd' is not fgsm" "$G" destruction $D --attacks fgsm,pgd --out "$tmp/x"
expect_error "destruction bad transform" "sharpen"           "$G" destruction $D --transforms blur,sharpen --out "$tmp/x"
expect_error "destruction bad eps"       "--eps"             "$G" destruction $D --eps 0.1,abc --out "$tmp/x"
expect_error "destruction eps range"     "outside"           "$G" destruction $D --eps 1.5 --out "$tmp/x"
expect_error "destruction no out"        "required"          "$G" destruction --model "$M" --data signs:test:5

[ $fails -eq 0 ]
