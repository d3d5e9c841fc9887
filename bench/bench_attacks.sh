#!/usr/bin/env bash
# Attack throughput, gibbon vs the PyTorch reference in the same run:
#  - PGD-40 (L-inf, eps 0.1, random start, no early stop) on the shipped CNN,
#    1000 test images in batches of 250: images/s and the ratio;
#  - C&W-L2 with 9 binary-search steps x 1000 iterations (early abort on):
#    seconds per image on the first CW_N images.
# torch runs with 2 threads and OPENBLAS_NUM_THREADS=1 (FACTS.md). CPU/wall
# is printed with every timing: ~2.0 means both cores were ours, ~1.0 contended.
#   bash bench/bench_attacks.sh            (needs make BUILD=release)
set -eu
cd "$(dirname "$0")/.."
G=${GIBBON:-build/release/gibbon}
M=${MODEL:-models/fmnist_cnn.onnx}
CWN=${CW_N:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
timed() { # timed OUTFILE CMD...: runs CMD, appends "wall cpu" to OUTFILE
  local f=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$f.t" "$@" >"$f" 2>&1
  awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$f.t" >>"$f.times"
}
timed "$tmp/g_pgd" "$G" attack --model "$M" --data fashion-mnist:test:1000 --attack pgd --eps 0.1 --batch 250 --out "$tmp/gp"
OPENBLAS_NUM_THREADS=1 timed "$tmp/t_pgd" /usr/bin/python3 - "$M" <<'PY'
import sys, time, torch
sys.path.insert(0, "tests/reference")
import attacks_torch as R
torch.set_num_threads(2)
m = R.OnnxTorch(sys.argv[1]).eval()
x, y = R.load_fmnist(1000)
g = torch.Generator().manual_seed(0)
t0 = time.time()
for b in range(0, 1000, 250):
    R.iterative(m, x[b:b + 250], y[b:b + 250], 0.1, 2.5 * 0.1 / 40, 40, True, g)
print("attack_seconds", time.time() - t0)
PY
timed "$tmp/g_cw" "$G" attack --model "$M" --data "fashion-mnist:test:$CWN" --attack cw-l2 --binary-steps 9 --steps 1000 --out "$tmp/gc"
OPENBLAS_NUM_THREADS=1 timed "$tmp/t_cw" /usr/bin/python3 tests/reference/attacks_torch.py --model "$M" --n "$CWN" --cw-n "$CWN" \
  --attacks cw --cw 9,1000,0.01,0.001
/usr/bin/python3 - "$tmp" "$CWN" <<'PY'
import json, re, sys
d, cwn = sys.argv[1], int(sys.argv[2])
def times(f):
    w, c = open(f"{d}/{f}.times").read().split()
    return float(w), float(c)
gp = json.load(open(f"{d}/gp/summary.json"))["time_s"]
tp = float(re.search(r"attack_seconds (\S+)", open(f"{d}/t_pgd").read()).group(1))
gw, gc = times("g_pgd"); tw, tc = times("t_pgd")
print(f"PGD-40 L-inf, 1000 images, batch 250 (attack time only)")
print(f"  gibbon  {1000 / gp:8.1f} images/s   (process cpu/wall {gc / gw:.2f})")
print(f"  torch   {1000 / tp:8.1f} images/s   (process cpu/wall {tc / tw:.2f})")
print(f"  ratio gibbon/torch {tp / gp:.2f}x")
gcw = json.load(open(f"{d}/gc/summary.json"))
tcw = re.search(r"cw .*\((\S+) s\)", open(f"{d}/t_cw").read()).group(1)
gw, gc = times("g_cw"); tw, tc = times("t_cw")
print(f"C&W-L2 9 x 1000 (early abort), {cwn} images")
print(f"  gibbon  {gcw['time_s'] / cwn:6.2f} s/image  ({gcw['grad_evals_per_example']:.0f} gradient evaluations per image, "
      f"success {gcw['success_rate']:.3f}, mean L2 {gcw['mean_l2']:.4f}; cpu/wall {gc / gw:.2f})")
print(f"  torch   {float(tcw) / cwn:6.2f} s/image  (cpu/wall {tc / tw:.2f})")
print(f"  ratio gibbon/torch {float(tcw) / gcw['time_s']:.2f}x")
PY
