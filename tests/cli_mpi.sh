#!/usr/bin/env bash
# `mpirun -n 2 gibbon eval --eps`: the MPI build (make MPI=1, binary
# $GIBBON_MPI, default: $GIBBON's build directory with -mpi appended, as
# scripts/test.sh builds it) against one process of the same binary:
#  - 2 ranks write byte-identical examples.csv and x_adv.npy, and the same
#    eval.json apart from timings and the command line;
#  - a rank killed mid-evaluation ends the job; rerunning completes it,
#    reusing the chunks already written, with the identical result;
#  - a 2-rank run stopped by --time-budget and resumed is identical too;
#  - settings that differ from the saved state stop every rank (exit 2);
#  - `mpirun -n 2 gibbon train` (data-parallel) gives the per-step losses,
#    test accuracy and predictions of one process, plainly, resumed and
#    with --adv pgd; only rank 0 prints and writes files.
# Prints SKIP and passes when mpirun or the MPI build is missing.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
GM=${GIBBON_MPI:-$(dirname "$G")-mpi/gibbon}
if ! command -v mpirun >/dev/null || [ ! -x "$GM" ]; then
  echo "SKIP cli_mpi: no mpirun or no MPI build at $GM (make MPI=1 BUILD=<name>)"
  exit 0
fi
PY=/usr/bin/python3
M=models/fmnist_cnn.onnx
tmp=$(mktemp -d)
bg=""
trap '[ -n "$bg" ] && kill -9 $bg 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
ok()   { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
export OMP_NUM_THREADS=1 GIBBON_THREADS=1 OMP_WAIT_POLICY=passive
MPI=(mpirun -n 2 --oversubscribe --allow-run-as-root)
N=48 B=6
E=(eval --model "$M" -n "$N" --batch "$B" --iters 6 --targets 3 --queries 60 --eps 0.05,0.1
   --attacks apgd-ce,apgd-t,square)
chunks=$(( (N + B - 1) / B ))

# The same results as one process: every byte of the per-example outputs;
# eval.json equal once timings and the command line (its --out) are dropped.
same() { local a=$1 b=$2 f
  for f in eps_0.05/examples.csv eps_0.05/x_adv.npy eps_0.1/examples.csv eps_0.1/x_adv.npy; do
    cmp -s "$a/$f" "$b/$f" || { echo "  $f differs"; return 1; }
  done
  "$PY" - "$a/eval.json" "$b/eval.json" <<'PYEOF'
import json, sys
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in ("time_s", "grad_evals_per_s", "command")}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
a, b = (strip(json.load(open(p))) for p in sys.argv[1:])
sys.exit(0 if a == b and a["complete"] else 1)
PYEOF
}

"$GM" "${E[@]}" --out "$tmp/one" >"$tmp/one.log" 2>&1 || { fail "1 process"; cat "$tmp/one.log"; }
if "${MPI[@]}" "$GM" "${E[@]}" --out "$tmp/two" >"$tmp/two.log" 2>&1; then ok "2 ranks run"
else fail "2 ranks run"; cat "$tmp/two.log"; fi
grep -q "rank 1 computed" "$tmp/two.log" && grep -q "rank 0 computed" "$tmp/two.log" &&
  ok "both ranks computed chunks" || fail "a rank computed nothing"
same "$tmp/one" "$tmp/two" && ok "2 ranks: outputs identical to 1 process" || fail "2 ranks differ from 1 process"
[ "$(grep -c "wrote .*eval.json" "$tmp/two.log")" = 1 ] && ok "only rank 0 writes eval.json" ||
  fail "eval.json written $(grep -c "wrote .*eval.json" "$tmp/two.log") times"

# A rank killed (SIGKILL) once the first chunk is saved: mpirun ends the job;
# the chunks saved are kept and the rerun computes only the rest.
"${MPI[@]}" "$GM" "${E[@]}" --out "$tmp/kill" >"$tmp/kill.log" 2>&1 &
bg=$!
for _ in $(seq 600); do
  ls "$tmp"/kill/eps_0.05/state/chunk_*.bin >/dev/null 2>&1 && break
  sleep 0.05
done
rank=$(pgrep -P "$bg" | head -1)
[ -n "$rank" ] && kill -9 "$rank"
wait "$bg"; rc=$?; bg=""
saved=$(ls "$tmp"/kill/eps_0.*/state/chunk_*.bin 2>/dev/null | wc -l)
if [ "$rc" -ne 0 ] && [ "$saved" -ge 1 ] && [ "$saved" -lt $((2 * chunks)) ] && [ ! -e "$tmp/kill/eval.json" ]; then
  ok "killed rank: job stopped (exit $rc) with $saved of $((2 * chunks)) chunks saved"
else fail "killed rank: exit $rc, $saved chunks saved"; fi
"${MPI[@]}" "$GM" "${E[@]}" --out "$tmp/kill" >"$tmp/kill2.log" 2>&1 || { fail "resume after kill"; cat "$tmp/kill2.log"; }
computed=$(grep -c "computed examples" "$tmp/kill2.log")
same "$tmp/one" "$tmp/kill" && [ "$computed" -le $((2 * chunks - saved + 2)) ] &&
  ok "resume after kill: identical, $computed chunks recomputed" || fail "resume after kill ($computed recomputed)"

# --time-budget: each rank finishes one chunk, the job stops incomplete; reruns complete it.
"${MPI[@]}" "$GM" "${E[@]}" --out "$tmp/tb" --time-budget 0.001 >"$tmp/tb.log" 2>&1
grep -q '"complete": false' "$tmp/tb/eval.json" 2>/dev/null && grep -q "time budget reached" "$tmp/tb.log" &&
  ok "time budget stops a 2-rank run incomplete" || { fail "time budget"; cat "$tmp/tb.log"; }
"${MPI[@]}" "$GM" "${E[@]}" --out "$tmp/tb" >"$tmp/tb2.log" 2>&1
same "$tmp/one" "$tmp/tb" && ok "resume after time budget: identical" || fail "resume after time budget"

# Other settings on the same --out: rank 0 refuses, and no rank is left waiting.
timeout 60 "${MPI[@]}" "$GM" "${E[@]}" --iters 7 --out "$tmp/two" >"$tmp/bad.log" 2>&1; rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "other settings" "$tmp/bad.log" &&
  ok "changed settings: all ranks stop (exit $rc)" || { fail "changed settings (exit $rc)"; cat "$tmp/bad.log"; }

# Data-parallel training: 2 ranks against 1 process with the same global
# batch and seed. 257 images in batches of 64: the last batch of 1 leaves
# rank 0 an empty slice. BatchNorm (synced), Dropout and --augment (drawn
# per global example). Per-step losses (--log) within 1e-4 relative, the
# same test accuracy and the same clean predictions of the saved models.
T=(train --arch convbn8-fc16-drop0.25 --data fashion-mnist:train:257 --test fashion-mnist:test:100 --batch 64
   --augment --epochs 2)
curve() { # curve ONE.csv TWO.csv TOL [FIRST_TOL]: per-step loss curves agree
  "$PY" - "$@" <<'PYEOF'
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
tol = float(sys.argv[3]); first = float(sys.argv[4]) if len(sys.argv) > 4 else tol
rel = lambda u, v: abs(float(u) - float(v)) / max(abs(float(v)), 1e-3)
worst = max(rel(x[k], y[k]) for x, y in zip(a, b) for k in ("loss", "adv_loss"))
step1 = max(rel(a[0][k], b[0][k]) for k in ("loss", "adv_loss"))
print("  %d steps, max relative loss difference %.2g" % (len(a), worst))
sys.exit(0 if len(a) == len(b) > 0 and worst <= tol and step1 <= first and
         [x["step"] for x in a] == [y["step"] for y in b] else 1)
PYEOF
}
same_preds() { # same_preds A.onnx B.onnx: equal clean predictions on 100 test images, confidences within 1e-4
  local f
  for f in "$1" "$2"; do
    "$GM" eval --model "$f" -n 100 --eps 0.01 --attacks apgd-ce --iters 1 --out "$f.eval" >/dev/null 2>&1 || return 1
  done
  "$PY" - "$1.eval/eps_0.01/examples.csv" "$2.eval/eps_0.01/examples.csv" <<'PYEOF'
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:])
sys.exit(0 if len(a) == len(b) == 100 and all(x["clean_pred"] == y["clean_pred"] and
         abs(float(x["clean_conf"]) - float(y["clean_conf"])) <= 1e-4 for x, y in zip(a, b)) else 1)
PYEOF
}
"$GM" "${T[@]}" --out "$tmp/t1.onnx" --log "$tmp/t1.csv" >"$tmp/t1.log" 2>&1 || { fail "train, 1 process"; cat "$tmp/t1.log"; }
if "${MPI[@]}" "$GM" "${T[@]}" --out "$tmp/t2.onnx" --log "$tmp/t2.csv" >"$tmp/t2.log" 2>&1; then
  ok "train, 2 ranks"; else fail "train, 2 ranks"; cat "$tmp/t2.log"; fi
curve "$tmp/t1.csv" "$tmp/t2.csv" 1e-4 && ok "2 ranks: per-step losses match 1 process" ||
  fail "2 ranks: loss curve differs"
a=$(awk '/^test accuracy/ {print $3}' "$tmp/t1.log"); b=$(awk '/^test accuracy/ {print $3}' "$tmp/t2.log")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "2 ranks: same test accuracy ($a)" || fail "test accuracy: $a / $b"
same_preds "$tmp/t1.onnx" "$tmp/t2.onnx" &&
  ok "2 ranks: the saved models' predictions match" || fail "2 ranks: predictions differ"
[ "$(grep -c "^saved\|saved " "$tmp/t2.log")" = 1 ] && [ "$(grep -c "^epoch" "$tmp/t2.csv")" = 1 ] &&
  [ "$(grep -c "^epoch 2/2  loss" "$tmp/t2.log")" = 1 ] && [ -s "$tmp/t2.onnx.ckpt" ] &&
  ok "only rank 0 prints, logs and saves" || fail "rank 0 alone should print, log and save"

# --resume under mpirun: one epoch, then a second from the checkpoint, as
# 2 ranks and as 1 process; the appended logs and the models agree.
R=(train --arch convbn8-fc16 --data fashion-mnist:train:257 --test none --batch 64)
for k in 1 2; do
  pre=(); [ "$k" = 2 ] && pre=("${MPI[@]}")
  "${pre[@]}" "$GM" "${R[@]}" --epochs 1 --out "$tmp/r$k.onnx" --log "$tmp/r$k.csv" >"$tmp/r$k.log" 2>&1 &&
    "${pre[@]}" "$GM" "${R[@]}" --epochs 2 --resume --out "$tmp/r$k.onnx" --log "$tmp/r$k.csv" >>"$tmp/r$k.log" 2>&1 ||
    { fail "resume, $k rank(s)"; cat "$tmp/r$k.log"; }
done
[ "$(grep -c '^2,' "$tmp/r2.csv")" = 5 ] && curve "$tmp/r1.csv" "$tmp/r2.csv" 1e-4 &&
  same_preds "$tmp/r1.onnx" "$tmp/r2.onnx" &&
  ok "resume under mpirun continues like 1 process" || fail "resume under mpirun"

# PGD adversarial training: step 1 (same model, per-example random starts)
# within 1e-5; later steps within 1e-3, as sign(gradient) steps can flip on
# a pixel whose gradient is ~0 (1 process with 2 threads strays as much).
P=(train --arch convbn8-fc16 --data fashion-mnist:train:257 --test none --batch 64 --epochs 1 --adv pgd --adv-steps 2)
"$GM" "${P[@]}" --out "$tmp/p1.onnx" --log "$tmp/p1.csv" >"$tmp/p1.log" 2>&1 || { fail "pgd, 1 process"; cat "$tmp/p1.log"; }
"${MPI[@]}" "$GM" "${P[@]}" --out "$tmp/p2.onnx" --log "$tmp/p2.csv" >"$tmp/p2.log" 2>&1 || { fail "pgd, 2 ranks"; cat "$tmp/p2.log"; }
curve "$tmp/p1.csv" "$tmp/p2.csv" 1e-3 1e-5 && ok "2 ranks, --adv pgd: losses match 1 process" ||
  fail "2 ranks, --adv pgd: loss curve differs"

[ "$fails" -eq 0 ] && echo "cli_mpi: all passed" || { echo "cli_mpi: $fails failed"; exit 1; }
