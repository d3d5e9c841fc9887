#!/usr/bin/env bash
# The APGD part of the AutoAttack evaluation, gibbon vs the PyTorch port
# written from the paper (tests/reference/apgd_torch.py), in the same run:
# APGD-CE (100 iterations) then APGD-T (targeted DLR, 9 target classes x 100
# iterations) on the examples APGD-CE left robust, L-inf, on the first N
# Fashion-MNIST test images, batches of 500 on both sides.
#   gibbon: `gibbon eval --eps E --attacks apgd-ce,apgd-t` (the ensemble
#           code path itself, fresh state each time);
#   torch:  apgd_torch.py --attacks ensemble (2 threads, OPENBLAS_NUM_THREADS=1).
# Prints per side, as the median over REPS interleaved repetitions: attack
# wall-clock (the attacks only, no loading), gradient evaluations and
# gradient evaluations per second, robust accuracy, the process's CPU/wall
# (~2.0: both cores were ours; ~1.0: contended, the numbers are not
# comparable), and the ratio gibbon/torch. FULL=1 also times the full
# standard `gibbon eval` (APGD-CE, APGD-T, FAB-T, Square): the torch port has
# only the APGD parts, so that line has no ratio.
#   bash bench/bench_eval.sh [N]      (needs make BUILD=release; N default 1000)
# Environment: GIBBON, MODEL, EPS (0.1), REPS (3), ITERS (100), TARGETS (9), FULL.
set -eu
cd "$(dirname "$0")/.."
G=${GIBBON:-build/release/gibbon}
M=${MODEL:-models/fmnist_cnn.onnx}
N=${1:-1000}
EPS=${EPS:-0.1}
REPS=${REPS:-3}
ITERS=${ITERS:-100}
TARGETS=${TARGETS:-9}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$G" eval --help 2>&1 | grep -q -- "--attacks"; then
  echo "bench_eval: $G eval has no --eps/--attacks (AutoAttack evaluation): build a newer gibbon" >&2; exit 1
fi
timed() { # timed NAME CMD...: runs CMD, keeps its output and "wall cpu" in $tmp/NAME.*
  local f=$tmp/$1; shift
  /usr/bin/time -f "%e %U %S" -o "$f.t" "$@" >"$f.log" 2>&1 || { cat "$f.log" >&2; exit 1; }
  awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$f.t" >"$f.times"
}
for r in $(seq 1 "$REPS"); do
  timed "g$r" "$G" eval --model "$M" --data fashion-mnist:test --n "$N" --eps "$EPS" --attacks apgd-ce,apgd-t \
    --iters "$ITERS" --targets "$TARGETS" --batch 500 --fresh --out "$tmp/g$r"
  OPENBLAS_NUM_THREADS=1 timed "t$r" /usr/bin/python3 tests/reference/apgd_torch.py --model "$M" --n "$N" \
    --eps "$EPS" --iters "$ITERS" --targets "$TARGETS" --batch 500 --attacks ensemble --json "$tmp/t$r.json"
  if [ -n "${FULL:-}" ]; then
    timed "f$r" "$G" eval --model "$M" --data fashion-mnist:test --n "$N" --eps "$EPS" --iters "$ITERS" \
      --targets "$TARGETS" --batch 500 --fresh --out "$tmp/f$r"
  fi
done
/usr/bin/python3 - "$tmp" "$REPS" "$N" "$EPS" "${FULL:-}" "$TARGETS" <<'PY'
import glob, json, statistics as st, sys
d, reps, n, eps, full, targets = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
def proc(name):
    w, c = open(f"{d}/{name}.times").read().split()
    return float(w), float(c)
def gib(prefix, r):
    e = json.load(open(glob.glob(f"{d}/{prefix}{r}/**/eval.json", recursive=True)[0]))
    run = e["runs"][0]
    t = sum(a["time_s"] for a in run["attacks"])
    ev = sum(a["grad_evals"] for a in run["attacks"])
    return t, ev, run["robust_accuracy"], e["clean_accuracy"]
rows = {"gibbon": [], "torch": [], "full": []}
for r in range(1, reps + 1):
    w, c = proc(f"g{r}")
    rows["gibbon"].append(gib("g", r) + (c / w,))
    t = json.load(open(f"{d}/t{r}.json"))[0]
    w, c = proc(f"t{r}")
    rows["torch"].append((t["time_s"], t["grad_evals"], t["robust_accuracy"], t["clean_accuracy"], c / w))
    if full:
        w, c = proc(f"f{r}")
        rows["full"].append(gib("f", r) + (c / w,))
med = {k: [st.median(col) for col in zip(*v)] for k, v in rows.items() if v}
print(f"APGD-CE + APGD-T ({targets} targets), L-inf eps {eps}, first {n} Fashion-MNIST test images, median of {reps}")
print(f"{'':8s} {'attack s':>9s} {'grad evals':>11s} {'evals/s':>9s} {'robust':>7s} {'clean':>7s} {'cpu/wall':>8s}")
for k in ("gibbon", "torch", "full"):
    if k not in med:
        continue
    t, ev, rob, cl, cw = med[k]
    label = "full eval" if k == "full" else k
    print(f"{label:8s} {t:9.1f} {ev:11.0f} {ev / t:9.0f} {rob:7.4f} {cl:7.4f} {cw:8.2f}")
g, t = med["gibbon"], med["torch"]
print(f"ratio gibbon/torch: wall-clock {t[0] / g[0]:.2f}x faster, gradient evaluations/s {(g[1] / g[0]) / (t[1] / t[0]):.2f}x")
print("per repetition (attack s, gibbon / torch):",
      ", ".join(f"{a[0]:.1f}/{b[0]:.1f}" for a, b in zip(rows["gibbon"], rows["torch"])))
if "full" in med:
    print("full eval = APGD-CE, APGD-T, FAB-T, Square (the torch port has no FAB/Square: no ratio)")
PY
