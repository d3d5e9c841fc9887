#!/usr/bin/env bash
# run.sh — gibbon vs PyTorch on the zoo "cnn", batch 128, 2 threads.
#
# Builds the release bench (make BUILD=release bench), then runs
# bench_cnn and bench_torch.py alternately ROUNDS times (the order flips each
# round so neither always runs on a warmer or quieter machine), and prints
# one table of medians pooled over every repetition of every round:
# images/s for each, the ratio gibbon/torch, and CPU/wall for each (about 2.0:
# both vCPUs were ours; about 1.0 or less: the host or another process took
# one away, and the numbers are not worth much — rerun).
# Writes every JSON line and the table's numbers to bench/results.json
# (atomically). Installs nothing.
#
# Environment: ROUNDS (3), REPS (5), ITERS (10), WARMUP (3), BATCH (128),
# THREADS (2), BUILD (release), PROFILE=1 adds per-op profiles (stderr of
# both benches) after the table.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3} REPS=${REPS:-5} ITERS=${ITERS:-10} WARMUP=${WARMUP:-3}
BATCH=${BATCH:-128} THREADS=${THREADS:-2} BUILD=${BUILD:-release}
PY=/usr/bin/python3
ARGS=(--batch "$BATCH" --threads "$THREADS" --warmup "$WARMUP" --reps "$REPS" --iters "$ITERS")

have_torch=1
if ! "$PY" -c 'import torch' 2>/dev/null; then
  have_torch=0
  echo "run.sh: PyTorch not found under $PY; install it with" >&2
  echo "          sudo apt-get install python3-torch" >&2
  echo "        (Debian's package; the python3 first on PATH is another interpreter)." >&2
  echo "        Running gibbon alone." >&2
fi

make -j2 BUILD="$BUILD" bench >/dev/null
BIN=build/$BUILD/bench/bench_cnn

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (2 vCPUs; above ~0.5 someone else is running)"

run_gibbon() { "$BIN" "${ARGS[@]}" >>"$tmp/lines.jsonl"; }
run_torch() {
  [ "$have_torch" = 1 ] || return 0
  OPENBLAS_NUM_THREADS=1 "$PY" bench/bench_torch.py "${ARGS[@]}" >>"$tmp/lines.jsonl"
}
start=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then run_gibbon; run_torch; else run_torch; run_gibbon; fi
  echo "round $r/$ROUNDS done ($(($(date +%s) - start)) s)" >&2
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" - "$tmp/lines.jsonl" bench/results.json <<'EOF'
import json, os, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
res = {}
for l in lines:
    r = res.setdefault((l["impl"], l["measure"]), {"ips": [], "cw": [], "round_medians": []})
    r["ips"] += l["img_per_s_reps"]
    r["cw"] += l["cpu_wall_reps"]
    r["round_medians"].append(l["img_per_s"])
def med(impl, m, k):
    r = res.get((impl, m))
    return statistics.median(r[k]) if r else float("nan")
rows = []
print(f"\n{'measurement':<12} {'gibbon img/s':>13} {'torch img/s':>12} {'gibbon/torch':>13} "
      f"{'CPU/wall g':>11} {'CPU/wall t':>11}")
for m in ("train", "forward", "input_grad"):
    g, t = med("gibbon", m, "ips"), med("torch", m, "ips")
    gc, tc = med("gibbon", m, "cw"), med("torch", m, "cw")
    ratio = g / t if t == t and t > 0 else float("nan")
    rows.append({"measure": m, "gibbon_img_per_s": g, "torch_img_per_s": t, "ratio": ratio,
                 "gibbon_cpu_wall": gc, "torch_cpu_wall": tc,
                 "gibbon_round_medians": res.get(("gibbon", m), {}).get("round_medians"),
                 "torch_round_medians": res.get(("torch", m), {}).get("round_medians")})
    print(f"{m:<12} {g:>13.0f} {t:>12.0f} {ratio:>13.2f} {gc:>11.2f} {tc:>11.2f}")
low = [r["measure"] for r in rows if min(r["gibbon_cpu_wall"], r["torch_cpu_wall"]) < 1.6]
if low:
    print(f"warning: CPU/wall below 1.6 on {', '.join(low)}: the machine was contended, rerun")
out, tmp = sys.argv[2], sys.argv[2] + ".tmp"
with open(tmp, "w") as f:
    json.dump({"table": rows, "runs": lines}, f, indent=1)
os.replace(tmp, out)
EOF

if [ "${PROFILE:-0}" = 1 ]; then
  "$BIN" "${ARGS[@]}" --only train --profile >/dev/null
  if [ "$have_torch" = 1 ]; then
    OPENBLAS_NUM_THREADS=1 "$PY" bench/bench_torch.py "${ARGS[@]}" --only train --profile >/dev/null
  fi
fi
