#!/usr/bin/env bash
# Scaling of `gibbon eval --eps` over MPI ranks on this machine: the same
# evaluation (fresh state each time) as 1 process and as `mpirun -n K`
# (K = 2 by default), 1 OpenMP thread per rank, interleaved REPS times.
# Prints per configuration the median wall-clock, examples/s, CPU/wall
# (~K when the cores were ours; lower: the machine was shared and the
# numbers are not a scaling measurement), and the speedup over 1 rank.
# Checks that every run's examples.csv is byte-identical to the 1-rank one.
# Then data-parallel `gibbon train` the same way: one epoch of TRAIN_N
# Fashion-MNIST images, plainly and with --adv pgd (3 steps), training
# images/s from rank 0's epoch line (model building and data loading
# excluded), checking the per-step losses (--log) against 1 rank's: step 1
# within 1e-5, the rest within 1e-2 (pgd: 5e-2, its sign steps flip on
# pixels whose gradient is ~0): rounding differences grow over the steps,
# and 1 process with 2 OpenMP threads strays from 1 thread as much.
#   bash bench/bench_mpi.sh [N]     (needs make MPI=1, i.e. build/release-mpi; N default 200)
# Environment: GIBBON_MPI (build/release-mpi/gibbon), MODEL (the PGD-trained
# CNN: its examples survive long, so chunks are real work), EPS (0.1),
# ATTACKS (apgd-ce,apgd-t), ITERS (20), TARGETS (3), BATCH (examples per
# chunk, 20), RANKS ("2"), REPS (3), WHAT ("eval train": which parts),
# TRAIN_N (4096), TRAIN_ARCH (convbn32-convbn64-fc128-drop0.3: the zoo CNN
# with BatchNorm), TRAIN_BATCH (128).
set -eu
cd "$(dirname "$0")/.."
G=${GIBBON_MPI:-build/release-mpi/gibbon}
M=${MODEL:-models/fmnist_cnn_pgd.onnx}
N=${1:-200}
EPS=${EPS:-0.1} ATTACKS=${ATTACKS:-apgd-ce,apgd-t} ITERS=${ITERS:-20} TARGETS=${TARGETS:-3}
BATCH=${BATCH:-20} RANKS=${RANKS:-2} REPS=${REPS:-3} WHAT=${WHAT:-eval train}
TRAIN_N=${TRAIN_N:-4096} TRAIN_ARCH=${TRAIN_ARCH:-convbn32-convbn64-fc128-drop0.3} TRAIN_BATCH=${TRAIN_BATCH:-128}
command -v mpirun >/dev/null || { echo "bench_mpi: mpirun missing (apt-get install openmpi-bin)" >&2; exit 1; }
[ -x "$G" ] || { echo "bench_mpi: $G missing: make -j2 MPI=1" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1 GIBBON_THREADS=1 OMP_WAIT_POLICY=passive
E=(eval --model "$M" -n "$N" --eps "$EPS" --attacks "$ATTACKS" --iters "$ITERS" --targets "$TARGETS" --batch "$BATCH")
run() { # run K REP
  local k=$1 f=$tmp/k$1_$2 pre=()
  [ "$k" -gt 1 ] && pre=(mpirun -n "$k" --oversubscribe --allow-run-as-root)
  /usr/bin/time -f "%e %U %S" -o "$f.t" "${pre[@]}" "$G" "${E[@]}" --out "$f" >"$f.log" 2>&1 ||
    { cat "$f.log" >&2; exit 1; }
  if [ "$k" -gt 1 ] && ! cmp -s "$f/eps_$EPS/examples.csv" "$tmp/k1_$2/eps_$EPS/examples.csv"; then
    echo "bench_mpi: $k ranks gave other results than 1" >&2; exit 1
  fi
  awk '{print $1, $2 + $3}' "$f.t" >>"$tmp/k$k.times"
}
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
if [[ " $WHAT " == *" eval "* ]]; then
for r in $(seq 1 "$REPS"); do
  run 1 "$r"
  for k in $RANKS; do run "$k" "$r"; done
done
w1=$(cut -d' ' -f1 "$tmp/k1.times" | med)
echo "gibbon eval, $N examples of $M, eps $EPS, $ATTACKS, iters $ITERS, targets $TARGETS, chunks of $BATCH; $REPS reps, medians"
printf "%-6s %10s %12s %9s %8s\n" ranks wall_s examples/s cpu/wall speedup
for k in 1 $RANKS; do
  w=$(cut -d' ' -f1 "$tmp/k$k.times" | med)
  c=$(awk '{print $2 / $1}' "$tmp/k$k.times" | med)
  awk -v k="$k" -v w="$w" -v c="$c" -v n="$N" -v w1="$w1" \
    'BEGIN {printf "%-6d %10.2f %12.1f %9.2f %7.2fx\n", k, w, n / w, c, w1 / w}'
done
fi

# Training: K ranks share each global batch of TRAIN_BATCH (the same steps
# as 1 rank); img/s from rank 0's end-of-epoch line.
train_run() { # train_run MODE K REP
  local mode=$1 k=$2 f=$tmp/train_$1_k$2_$3 pre=() adv=()
  [ "$k" -gt 1 ] && pre=(mpirun -n "$k" --oversubscribe --allow-run-as-root)
  [ "$mode" = pgd ] && adv=(--adv pgd --adv-steps 3)
  /usr/bin/time -f "%e %U %S" -o "$f.t" "${pre[@]}" "$G" train --arch "$TRAIN_ARCH" \
    --data "fashion-mnist:train:$TRAIN_N" --test none --epochs 1 --batch "$TRAIN_BATCH" "${adv[@]}" \
    --out "$f.onnx" --log "$f.csv" >"$f.log" 2>&1 || { cat "$f.log" >&2; exit 1; }
  local ips; ips=$(sed -n 's/^epoch 1\/1  loss .*  \([0-9]*\) img\/s .*/\1/p' "$f.log")
  awk -v i="$ips" '{print i, $1, ($2 + $3) / $1}' "$f.t" >>"$tmp/train_$mode.k$k"
  if [ "$k" -gt 1 ]; then
    local tol=1e-2; [ "$mode" = pgd ] && tol=5e-2
    /usr/bin/python3 - "$tmp/train_$1_k1_$3.csv" "$f.csv" "$tol" <<'PYEOF' || { echo "bench_mpi: $k ranks' losses differ from 1 rank's" >&2; exit 1; }
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
rel = lambda x, y: max(abs(float(x[k]) - float(y[k])) / max(abs(float(y[k])), 1e-3) for k in ("loss", "adv_loss"))
d = [rel(x, y) for x, y in zip(a, b)]
print("  %s: %d steps, relative loss difference: step 1 %.1g, max %.2g" % (sys.argv[2].split("/")[-1], len(d), d[0], max(d)), file=sys.stderr)
sys.exit(0 if len(a) == len(b) and d[0] <= 1e-5 and max(d) <= float(sys.argv[3]) else 1)
PYEOF
  fi
}
if [[ " $WHAT " == *" train "* ]]; then
  for mode in plain pgd; do
    for r in $(seq 1 "$REPS"); do
      train_run "$mode" 1 "$r"
      for k in $RANKS; do train_run "$mode" "$k" "$r"; done
    done
  done
  echo "gibbon train, 1 epoch of $TRAIN_N images, $TRAIN_ARCH, global batch $TRAIN_BATCH, 1 thread per rank; $REPS reps, medians"
  printf "%-6s %-6s %10s %9s %9s %8s\n" mode ranks img/s wall_s cpu/wall speedup
  for mode in plain pgd; do
    i1=$(cut -d' ' -f1 "$tmp/train_$mode.k1" | med)
    for k in 1 $RANKS; do
      i=$(cut -d' ' -f1 "$tmp/train_$mode.k$k" | med)
      w=$(cut -d' ' -f2 "$tmp/train_$mode.k$k" | med)
      c=$(cut -d' ' -f3 "$tmp/train_$mode.k$k" | med)
      awk -v m="$mode" -v k="$k" -v i="$i" -v w="$w" -v c="$c" -v i1="$i1" \
        'BEGIN {printf "%-6s %-6d %10.0f %9.2f %9.2f %7.2fx\n", m, k, i, w, c, i / i1}'
    done
  done
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (2-core machine; anything above ~2 means shared cores)"
