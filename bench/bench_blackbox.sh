#!/usr/bin/env bash
# Black-box throughput, gibbon vs the PyTorch reference (tests/reference/
# blackbox_torch.py) in the same run, both on one thread (OMP/torch 1
# thread, OMP_WAIT_POLICY=passive), CPU time (user+sys) so a loaded machine
# distorts less than wall time:
#  - queries/s of the in-process oracle on the shipped CNN: softmax scores
#    for batches of 1, 32 and 256 test images, ~2 s CPU each
#    (bench/bench_oracle.c, linked here against $LIB; torch: model(x).softmax);
#  - Square L-inf (eps 0.1, 1000 queries) on the first N test images:
#    images/s and queries/s (gibbon: the whole CLI process, loading
#    included; torch: the attack loop only — gibbon's ratio is conservative).
# Prints each figure and the ratio gibbon / torch (the issue's target: >= 3x).
#   bash bench/bench_blackbox.sh      (needs make BUILD=release; GIBBON, LIB override)
set -eu
cd "$(dirname "$0")/.."
G=${GIBBON:-build/release/gibbon}
LIB=${LIB:-$(dirname "$G")/libgibbon.a}
M=${MODEL:-models/fmnist_cnn.onnx}
N=${N:-100}
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive GIBBON_THREADS=1 OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -std=c11 -O2 -Iinclude bench/bench_oracle.c -o "$tmp/bench_oracle" "$LIB" \
  -lopenblas -lprotobuf-c -lpng -lz -lm -fopenmp
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(getconf _NPROCESSORS_ONLN) cores (figures are noisy when loaded)"
for b in 1 32 256; do
  "$tmp/bench_oracle" "$M" "$b" | tee -a "$tmp/oracle"
  /usr/bin/python3 tests/reference/blackbox_torch.py --model "$M" --n 256 --bench-oracle "$b" | tee -a "$tmp/oracle"
done
/usr/bin/time -f "%U %S" -o "$tmp/g_sq.t" "$G" attack --model "$M" --attack square --eps 0.1 --queries 1000 \
  --seed 1 --data "fashion-mnist:test:$N" --out "$tmp/g_sq" >/dev/null
/usr/bin/python3 tests/reference/blackbox_torch.py --model "$M" --attack square --eps 0.1 --queries 1000 \
  --seed 1 --n "$N" --json "$tmp/t_sq.json" >/dev/null
/usr/bin/python3 - "$tmp" <<'PY'
import csv, json, re, sys
tmp = sys.argv[1]
q = {}
for line in open(f"{tmp}/oracle"):
    m = re.match(r"(\w+) oracle: batch (\d+): (\d+) queries/s", line)
    q.setdefault(int(m[2]), {})[m[1]] = float(m[3])
for b, v in sorted(q.items()):
    print(f"oracle batch {b:3d}: gibbon {v['gibbon']:7.0f} q/s  torch {v['torch']:7.0f} q/s  ratio {v['gibbon'] / v['torch']:.2f}x")
u, s = map(float, open(f"{tmp}/g_sq.t").read().split()[-2:])
rows = [r for r in csv.DictReader(open(f"{tmp}/g_sq/examples.csv")) if r["clean_pred"] == r["true_label"]]
gi, gq = len(rows) / (u + s), sum(int(r["grad_evals"]) for r in rows) / (u + s)
t = json.load(open(f"{tmp}/t_sq.json"))
ti, tq = t["images_per_s"], sum(t["queries"]) / t["cpu_seconds"]
print(f"square linf (1000 queries, {len(rows)} images): gibbon {gi:.2f} img/s ({gq:.0f} q/s)  "
      f"torch {ti:.2f} img/s ({tq:.0f} q/s)  ratio {gi / ti:.2f}x")
PY
