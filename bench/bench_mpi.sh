#!/usr/bin/env bash
# Scaling of `gibbon eval --eps` over MPI ranks on this machine: the same
# evaluation (fresh state each time) as 1 process and as `mpirun -n K`
# (K = 2 by default), 1 OpenMP thread per rank, interleaved REPS times.
# Prints per configuration the median wall-clock, examples/s, CPU/wall
# (~K when the cores were ours; lower: the machine was shared and the
# numbers are not a scaling measurement), and the speedup over 1 rank.
# Checks that every run's examples.csv is byte-identical to the 1-rank one.
#   bash bench/bench_mpi.sh [N]     (needs make MPI=1, i.e. build/release-mpi; N default 200)
# Environment: GIBBON_MPI (build/release-mpi/gibbon), MODEL (the PGD-trained
# CNN: its examples survive long, so chunks are real work), EPS (0.1),
# ATTACKS (apgd-ce,apgd-t), ITERS (20), TARGETS (3), BATCH (examples per
# chunk, 20), RANKS ("2"), REPS (3).
set -eu
cd "$(dirname "$0")/.."
G=${GIBBON_MPI:-build/release-mpi/gibbon}
M=${MODEL:-models/fmnist_cnn_pgd.onnx}
N=${1:-200}
EPS=${EPS:-0.1} ATTACKS=${ATTACKS:-apgd-ce,apgd-t} ITERS=${ITERS:-20} TARGETS=${TARGETS:-3}
BATCH=${BATCH:-20} RANKS=${RANKS:-2} REPS=${REPS:-3}
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
for r in $(seq 1 "$REPS"); do
  run 1 "$r"
  for k in $RANKS; do run "$k" "$r"; done
done
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
w1=$(cut -d' ' -f1 "$tmp/k1.times" | med)
echo "gibbon eval, $N examples of $M, eps $EPS, $ATTACKS, iters $ITERS, targets $TARGETS, chunks of $BATCH; $REPS reps, medians"
printf "%-6s %10s %12s %9s %8s\n" ranks wall_s examples/s cpu/wall speedup
for k in 1 $RANKS; do
  w=$(cut -d' ' -f1 "$tmp/k$k.times" | med)
  c=$(awk '{print $2 / $1}' "$tmp/k$k.times" | med)
  awk -v k="$k" -v w="$w" -v c="$c" -v n="$N" -v w1="$w1" \
    'BEGIN {printf "%-6d %10.2f %12.1f %9.2f %7.2fx\n", k, w, n / w, c, w1 / w}'
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (2-core machine; anything above ~2 means shared cores)"
