#!/usr/bin/env bash
# CLI end to end for the score-based black-box attacks: square (L-inf, L2),
# simba (dct, pixel) and nes on the shipped model write their files and the
# success-vs-queries curve; the same Square run against the model behind
# --oracle (tests/oracle_example.py, numpy) writes the same adversarial
# images; no example spends more than --queries; a label-only oracle, a bad
# oracle command and a gradient attack with --oracle fail with one line.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
# Black-box batches are small: one thread spares OpenMP spin-waits on a busy machine.
export GIBBON_THREADS=1
M=models/fmnist_cnn.onnx
PY="/usr/bin/python3 tests/oracle_example.py $M"
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
N=12
[ -n "${GIBBON_TEST_SANITIZED:-}" ] && N=4
D="fashion-mnist:test:$N"

run() { # run NAME ARGS...: must succeed and write the curve
  local name=$1; shift
  if "$G" attack --data "$D" --out "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1 &&
     [ -s "$tmp/$name/summary.json" ] && [ -s "$tmp/$name/queries_curve.csv" ] && [ -s "$tmp/$name/queries_curve.svg" ]; then
    ok "$name"
  else
    fail "$name"; cat "$tmp/$name.log"
  fi
}
run square      --model $M --attack square --eps 0.1 --queries 200
run square-l2   --model $M --attack square --norm l2 --eps 2 --queries 200
run simba       --model $M --attack simba --queries 300
run simba-pixel --model $M --attack simba --basis pixel --queries 300
run nes         --model $M --attack nes --eps 0.1 --queries 400 --samples 20
run square-orc  --oracle "$PY" --attack square --eps 0.1 --queries 200

cmp -s "$tmp/square/adv.npy" "$tmp/square-orc/adv.npy" && ok "oracle program = in-process model" || fail "oracle program = in-process model"
# queries per example (last CSV column) never exceed the budget, and the curve ends at the success rate
awk -F, 'NR > 1 && $NF > 200 { bad = 1 } END { exit bad }' "$tmp/square/examples.csv" && ok "budget kept" || fail "budget kept"
last=$(tail -1 "$tmp/square/queries_curve.csv" | cut -d, -f2)
rate=$(/usr/bin/python3 -c "import json; print('%.6f' % json.load(open('$tmp/square/summary.json'))['success_rate'])")
[ "$last" = "$rate" ] && ok "curve ends at the success rate ($rate)" || fail "curve end $last vs success rate $rate"

bad() { # bad NAME PATTERN ARGS...: must fail (exit != 0, no crash) with PATTERN in one stderr line
  local name=$1 pat=$2; shift 2
  "$G" attack --data "$D" --out "$tmp/$name" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "$pat" "$tmp/$name.err"; then ok "$name"; else fail "$name (rc $rc)"; cat "$tmp/$name.err"; fi
}
bad labels-only "needs scores"    --oracle "$PY --labels" --oracle-labels --attack square --queries 50
bad crash       "exited with status 3" --oracle "exit 3" --attack square --queries 50
bad timeout     "timeout"         --oracle "sleep 20" --oracle-timeout 1 --attack simba --queries 50
bad gradient    "needs gradients" --oracle "$PY" --attack pgd
bad both        "not both"        --oracle "$PY" --model $M --attack square
bad basis       "basis"           --model $M --attack simba --basis wavelet
[ $fails -eq 0 ] || { echo "$fails failed"; exit 1; }
