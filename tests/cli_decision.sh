#!/usr/bin/env bash
# CLI end to end for the decision-based attacks: boundary and hsj (L2 and
# L-inf) run on the shipped model and on a label-only external oracle
# (tests/oracle_example.py --labels, which answers labels and nothing
# else), break every correctly classified image, never spend more than
# --queries on one, report the queries per image, and with --eps count only
# the adversarials within eps.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
M=models/fmnist_cnn.onnx
ORC="/usr/bin/python3 tests/oracle_example.py $M --labels"
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
N=6
Q=300
[ -n "${GIBBON_TEST_SANITIZED:-}" ] && N=3 && Q=120

run() { # NAME ARGS...: runs; every correct image broken within Q queries
  local name=$1; shift
  if "$G" attack --data "fashion-mnist:test:$N" --queries $Q --out "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1; then
    /usr/bin/python3 - "$tmp/$name" $Q <<'PY' && ok "$name" || { fail "$name"; cat "$tmp/$name.log"; }
import csv, json, sys
d, q = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(d + "/examples.csv")))
s = json.load(open(d + "/summary.json"))
for r in rows:
    assert 1 <= int(r["grad_evals"]) <= q, r
    if r["clean_pred"] == r["true_label"]:
        assert r["success"] == "1" and float(r["l2"]) > 0, r
assert s["success_rate"] == 1, s["success_rate"]
PY
  else fail "$name"; cat "$tmp/$name.log"; fi
}
run hsj-l2      --model "$M" --attack hsj
run hsj-linf    --model "$M" --attack hsj --norm linf
run boundary    --model "$M" --attack boundary
run hsj-oracle  --oracle "$ORC" --oracle-labels --attack hsj
run bd-oracle   --oracle "$ORC" --oracle-labels --attack boundary

# With a budget far below what these images need, nothing counts as broken.
"$G" attack --model "$M" --data "fashion-mnist:test:$N" --queries $Q --attack hsj --eps 0.01 --out "$tmp/tight" \
    >"$tmp/tight.log" 2>&1 && grep -q '"success_rate": 0,' "$tmp/tight/summary.json" && ok "eps 0.01: no success" ||
    { fail "eps 0.01: no success"; cat "$tmp/tight.log"; }
"$G" attack --model "$M" --data "fashion-mnist:test:2" --attack boundary --norm linf --out "$tmp/bad" >"$tmp/bad.log" 2>&1
[ $? -ne 0 ] && grep -q "norm must be l2" "$tmp/bad.log" && ok "boundary linf refused" || fail "boundary linf refused"
[ $fails -eq 0 ] && echo "cli_decision: all ok" || echo "cli_decision: $fails failed"
exit $((fails > 0))
