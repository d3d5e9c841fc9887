#!/usr/bin/env bash
# run.sh — gibbon vs PyTorch on the zoo "cnn", batch 128, 2 threads.
#
# Builds the release bench (make BUILD=release bench), then runs bench_cnn
# and bench_torch.py alternately ROUNDS times (the order flips each round so
# neither always runs on a warmer or quieter machine) and prints the table of
# bench/summarize.py: median images/s of each, the ratio gibbon/torch and
# CPU/wall of each, over the repetitions that had their CPUs (CPU/wall near
# 2.0; near 1.0 means the host or another process took a vCPU away).
# Writes every JSON line and the table to bench/results.json (atomically).
# Installs nothing.
#
# Environment: ROUNDS (3), REPS (5), ITERS (10), WARMUP (3), BATCH (128),
# THREADS (2), BUILD (release); QUIET_WAIT (60): before each bench, wait up
# to that many seconds for the machine to be >= 90% idle (0: never wait);
# PROFILE=1 adds both per-op profiles (to stderr) after the table.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3} REPS=${REPS:-5} ITERS=${ITERS:-10} WARMUP=${WARMUP:-3}
BATCH=${BATCH:-128} THREADS=${THREADS:-2} BUILD=${BUILD:-release} QUIET_WAIT=${QUIET_WAIT:-60}
PY=/usr/bin/python3
ARGS=(--batch "$BATCH" --threads "$THREADS" --warmup "$WARMUP" --reps "$REPS" --iters "$ITERS")

have_torch=1
if ! "$PY" -c 'import torch' 2>/dev/null; then
  have_torch=0
  echo "run.sh: PyTorch not found under $PY; install Debian's package with" >&2
  echo "          sudo apt-get install python3-torch" >&2
  echo "        (the python3 first on PATH is another interpreter). Running gibbon alone." >&2
fi

make -j2 BUILD="$BUILD" bench >/dev/null
BIN=build/$BUILD/bench/bench_cnn

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (2 vCPUs; above ~0.5 someone else is running)"

# Idle share of all CPUs over 3 s, from /proc/stat (idle + iowait).
cpu_sample() { awk '/^cpu /{print $5+$6, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
idle_pct() {
  local i0 t0 i1 t1
  read -r i0 t0 < <(cpu_sample)
  sleep 3
  read -r i1 t1 < <(cpu_sample)
  echo $((100 * (i1 - i0) / (t1 > t0 ? t1 - t0 : 1)))
}
wait_quiet() {
  local end=$(($(date +%s) + QUIET_WAIT)) pct
  while :; do
    pct=$(idle_pct)
    ((pct >= 90)) && return 0
    if (($(date +%s) >= end)); then
      echo "  (machine still busy, ${pct}% idle: running anyway)" >&2
      return 0
    fi
    sleep 5
  done
}
run_gibbon() {
  if ((QUIET_WAIT > 0)); then wait_quiet; fi
  "$BIN" "${ARGS[@]}" >>"$tmp/lines.jsonl"
}
run_torch() {
  [ "$have_torch" = 1 ] || return 0
  if ((QUIET_WAIT > 0)); then wait_quiet; fi
  OPENBLAS_NUM_THREADS=1 "$PY" bench/bench_torch.py "${ARGS[@]}" >>"$tmp/lines.jsonl"
}
start=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then run_gibbon; run_torch; else run_torch; run_gibbon; fi
  echo "round $r/$ROUNDS done ($(($(date +%s) - start)) s)" >&2
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" bench/summarize.py "$tmp/lines.jsonl" bench/results.json "$THREADS"

if [ "${PROFILE:-0}" = 1 ]; then
  "$BIN" "${ARGS[@]}" --only train --profile >/dev/null
  if [ "$have_torch" = 1 ]; then
    OPENBLAS_NUM_THREADS=1 "$PY" bench/bench_torch.py "${ARGS[@]}" --only train --profile >/dev/null
  fi
fi
