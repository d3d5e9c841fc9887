#!/usr/bin/env bash
# gibbon's Square (L-inf) and HopSkipJump (L2) against the independent
# PyTorch ports in tests/reference/blackbox_torch.py, same model, same images,
# same budgets and seeds 1..SEEDS (the two draw different random numbers, so
# rates are compared, averaged over the seeds):
#  - Square, eps 0.1, QUERIES per image, first N test images: success rates
#    over the correctly classified ones; fails if the means differ by more
#    than TOL points (the issue's 2);
#  - HSJ-L2, QUERIES per image, first HN images: success rate (any
#    adversarial found; fails beyond TOL), the rates with L2 <= 1 and <= 2
#    (reported: with HN = 50 their sampling noise alone is ~7 points) and the
#    median L2.
#   bash tests/reference/blackbox_compare.sh     (from the project root; ~5-10 min)
set -eu
cd "$(dirname "$0")/../.."
G=${GIBBON:-build/release/gibbon}
M=${MODEL:-models/fmnist_cnn.onnx}
N=${N:-500}
HN=${HN:-50}
Q=${QUERIES:-1000}
SEEDS=${SEEDS:-2}
TOL=${TOL:-2}
out=${OUT:-out/reference/blackbox}
mkdir -p "$out"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive GIBBON_THREADS=1
for s in $(seq 1 "$SEEDS"); do
  "$G" attack --model "$M" --attack square --eps 0.1 --queries "$Q" --seed "$s" \
    --data "fashion-mnist:test:$N" --out "$out/g_square_$s" >/dev/null
  /usr/bin/python3 tests/reference/blackbox_torch.py --model "$M" --attack square --eps 0.1 --queries "$Q" \
    --seed "$s" --n "$N" --json "$out/t_square_$s.json"
  "$G" attack --model "$M" --attack hsj --norm l2 --queries "$Q" --seed "$s" \
    --data "fashion-mnist:test:$HN" --out "$out/g_hsj_$s" >/dev/null
  /usr/bin/python3 tests/reference/blackbox_torch.py --model "$M" --attack hsj --queries "$Q" \
    --seed "$s" --n "$HN" --json "$out/t_hsj_$s.json"
done
/usr/bin/python3 - "$out" "$SEEDS" "$TOL" <<'PY'
import csv, json, statistics, sys
out, seeds, tol = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def g_rows(d):  # gibbon's attacked examples (correct when clean)
    return [r for r in csv.DictReader(open(f"{out}/{d}/examples.csv")) if r["clean_pred"] == r["true_label"]]
ok = True
gs = [statistics.mean(int(r["success"]) for r in g_rows(f"g_square_{s}")) for s in range(1, seeds + 1)]
ts = [json.load(open(f"{out}/t_square_{s}.json"))["success_rate"] for s in range(1, seeds + 1)]
g, t = statistics.mean(gs), statistics.mean(ts)
print(f"square linf eps 0.1: gibbon {100*g:.1f}% ({', '.join(f'{100*v:.1f}' for v in gs)})  "
      f"torch {100*t:.1f}% ({', '.join(f'{100*v:.1f}' for v in ts)})  difference {100*abs(g-t):.1f} points")
ok &= abs(g - t) * 100 <= tol
gl, tl = [], []
for s in range(1, seeds + 1):
    gl += [float(r["l2"]) if r["success"] == "1" else float("inf") for r in g_rows(f"g_hsj_{s}")]
    tl += json.load(open(f"{out}/t_hsj_{s}.json"))["l2"]
rate = lambda l, e: sum(v <= e for v in l) / len(l)  # noqa: E731
for e in (float("inf"), 2.0, 1.0):
    print(f"hsj l2 success{'' if e == float('inf') else f' with L2 <= {e:g}'}: gibbon {100*rate(gl, e):.1f}%  "
          f"torch {100*rate(tl, e):.1f}%  difference {100*abs(rate(gl, e) - rate(tl, e)):.1f} points")
ok &= abs(rate(gl, float("inf")) - rate(tl, float("inf"))) * 100 <= tol
print(f"hsj l2 median L2: gibbon {statistics.median(gl):.3f}  torch {statistics.median(tl):.3f}  "
      f"({len(gl)} and {len(tl)} example runs)")
sys.exit(0 if ok else 1)
PY
