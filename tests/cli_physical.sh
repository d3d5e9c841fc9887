#!/usr/bin/env bash
# CLI end to end for `gibbon patch` and `gibbon sticker` on the shipped model
# (tiny runs: the attacks' strength is tested in test_physical.c): every
# output file is written, summary.json parses and holds the fields the
# README names, and bad flags fail with one line naming the flag.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
M=models/fmnist_cnn.onnx
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

if "$G" patch --model "$M" --target Bag --size 0.05,0.1 --steps 3 --batch 8 --samples 1 --grid 4 \
     --data fashion-mnist:train:200 --test-data fashion-mnist:test:60 --transforms "rotate=-10:10,noise=0.01" \
     --out "$tmp/p" >"$tmp/p.log" 2>&1; then ok "patch runs"; else fail "patch runs"; cat "$tmp/p.log"; fi
for f in patch_0.05.png patch_0.1.png patch_0.1.npy success_vs_size.csv success_vs_size.svg grid.png summary.json; do
  [ -s "$tmp/p/$f" ] && ok "patch wrote $f" || fail "patch missing $f"
done
[ "$(wc -l <"$tmp/p/success_vs_size.csv")" = 3 ] && ok "csv has a row per size" || fail "csv rows"
if $PY - "$tmp/p/summary.json" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["target"] == 8 and s["target_name"] == "Bag", s
assert [r["area"] for r in s["sizes"]] == [0.05, 0.1]
assert all(0 <= r["success_rate"] <= 1 for r in s["sizes"])
assert s["transforms"].startswith("rotate=-10:10")
PYEOF
then ok "patch summary.json"; else fail "patch summary.json"; fi
if $PY -c "import numpy as n,sys; a=n.load(sys.argv[1]); assert a.shape==(1,9,9) and a.min()>=0 and a.max()<=1" "$tmp/p/patch_0.1.npy"; then
  ok "patch npy is (1,9,9) in [0,1]"; else fail "patch npy"; fi

if "$G" sticker --model "$M" -n 4 --mask glasses --steps 3 --eot 2 --transforms "rotate=-5:5" --eval-samples 4 \
     --nps-weight 0.01 --tv-weight 0.01 --out "$tmp/s" >"$tmp/s.log" 2>&1; then ok "sticker runs"; else fail "sticker runs"; cat "$tmp/s.log"; fi
for f in adv.npy sticker.png grid.png examples.csv summary.json; do
  [ -s "$tmp/s/$f" ] && ok "sticker wrote $f" || fail "sticker missing $f"
done
if $PY - "$tmp/s/summary.json" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["n"] == 4 and s["mode"] == "dodging" and s["mask"] == "glasses", s
for k in ("success_rate", "eot_success_rate", "mean_l2", "mean_tv", "mean_nps", "mean_mask_fraction", "grad_evals"):
    assert k in s, k
assert s["grad_evals"] == 4 * 2 * 4  # n * eot * (steps + 1)
PYEOF
then ok "sticker summary.json"; else fail "sticker summary.json"; fi
if "$G" sticker --model "$M" -n 2 --mask rect --two-stage --target 3 --steps 2 --eval-samples 2 --out "$tmp/s2" >"$tmp/s2.log" 2>&1 &&
   grep -q '"mode": "impersonation"' "$tmp/s2/summary.json"; then ok "sticker two-stage impersonation"; else fail "two-stage"; cat "$tmp/s2.log"; fi

bad() { # bad NAME PATTERN ARGS...: must exit 2 with one line naming PATTERN
  local name=$1 pat=$2; shift 2
  "$G" "$@" >"$tmp/bad.out" 2>"$tmp/bad.err"; local rc=$?
  if [ $rc = 2 ] && [ "$(wc -l <"$tmp/bad.err")" = 1 ] && grep -q -- "$pat" "$tmp/bad.err"; then ok "$name"; else
    fail "$name (rc $rc)"; cat "$tmp/bad.err"; fi
}
bad "patch --size 2"       "--size"       patch --model "$M" --target 1 --size 2 --out "$tmp/x"
bad "patch --shape"        "--shape"      patch --model "$M" --target 1 --shape hexagon --out "$tmp/x"
bad "patch --transforms"   "unknown key"  patch --model "$M" --target 1 --transforms spin=3 --out "$tmp/x"
bad "patch --target"       "--target"     patch --model "$M" --target Dog --steps 1 --data fashion-mnist:train:50 --test-data fashion-mnist:test:20 --out "$tmp/x"
bad "patch --placement"    "--placement"  patch --model "$M" --target 1 --placement middle --out "$tmp/x"
bad "patch --loss"         "--loss"       patch --model "$M" --target 1 --loss dlr --out "$tmp/x"
bad "patch --kappa"        "--kappa"      patch --model "$M" --target 1 --loss cw --kappa -1 --out "$tmp/x"
bad "patch sign, no masks" "--placement"  patch --model "$M" --target 1 --placement sign --steps 1 --data fashion-mnist:train:50 --test-data fashion-mnist:test:20 --out "$tmp/x"
if [ -f models/signs_cnn.onnx ]; then
  if "$G" patch --model models/signs_cnn.onnx --target "speed 50" --data signs:train:40 --test-data signs:test:20 --size 0.1 \
       --placement sign --jitter 0 --loss cw --steps 2 --batch 4 --samples 1 --grid 2 --out "$tmp/ps" >"$tmp/ps.log" 2>&1 &&
     $PY -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['placement']=='sign' and s['loss']=='cw' and s['jitter']==0, s" \
       "$tmp/ps/summary.json"; then ok "patch --placement sign on signs"; else fail "patch --placement sign"; cat "$tmp/ps.log"; fi
fi
bad "sticker --norm"       "--norm"       sticker --model "$M" --norm l7 --out "$tmp/x"
bad "sticker --transforms" "blur"         sticker --model "$M" --transforms blur=99 --out "$tmp/x"
"$G" sticker --model "$M" -n 2 --mask /nonexistent/m.png --out "$tmp/x" >/dev/null 2>"$tmp/bad.err"
[ $? = 1 ] && grep -q "nonexistent/m.png" "$tmp/bad.err" && ok "sticker bad mask file" || { fail "sticker bad mask file"; cat "$tmp/bad.err"; }
"$G" sticker --model "$M" -n 2 --nps-weight 1 --palette /nonexistent/p.txt --out "$tmp/x" >/dev/null 2>"$tmp/bad.err"
[ $? = 1 ] && grep -q "nonexistent/p.txt" "$tmp/bad.err" && ok "sticker bad palette" || { fail "sticker bad palette"; cat "$tmp/bad.err"; }

[ $fails = 0 ] && echo "all CLI physical tests passed" || { echo "$fails failed"; exit 1; }
