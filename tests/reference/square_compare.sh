#!/usr/bin/env bash
# Square Attack L-inf (eps 0.1) in gibbon against the independent numpy
# implementation tests/reference/square_ref.py on the same model and images:
# success rates over the correctly classified images among the first N, each
# averaged over SEEDS runs (the two draw different random numbers, so only
# rates compare); fails if the means differ by more than TOL points.
#   bash tests/reference/square_compare.sh [N] [QUERIES]   (from the project root; ~5-10 min)
set -eu
cd "$(dirname "$0")/../.."
G=${GIBBON:-build/release/gibbon}
N=${1:-100}
Q=${2:-1000}
SEEDS=${SEEDS:-3}
TOL=${TOL:-4}
out=${OUT:-out/reference/square}
mkdir -p "$out"
g=0 r=0
for s in $(seq 1 "$SEEDS"); do
  GIBBON_THREADS=1 "$G" attack --model models/fmnist_cnn.onnx --attack square --eps 0.1 --queries "$Q" --seed "$s" \
    --data "fashion-mnist:test:$N" --out "$out/gibbon_$s" >/dev/null
  gs=$(/usr/bin/python3 -c "import json; print(json.load(open('$out/gibbon_$s/summary.json'))['success_rate'])")
  rs=$(/usr/bin/python3 tests/reference/square_ref.py "$N" "$Q" 0.1 "$s" | sed 's/.*= \([0-9.]*\) success.*/\1/')
  echo "seed $s: gibbon $gs  reference $rs"
  g=$(/usr/bin/python3 -c "print($g + $gs / $SEEDS)")
  r=$(/usr/bin/python3 -c "print($r + $rs / $SEEDS)")
done
/usr/bin/python3 - "$g" "$r" "$TOL" <<'PY'
import sys
g, r, tol = map(float, sys.argv[1:])
print(f"square linf eps 0.1: gibbon {100 * g:.1f}%  reference {100 * r:.1f}%  (difference {100 * abs(g - r):.1f} points, tolerance {tol:g})")
sys.exit(0 if abs(g - r) * 100 <= tol else 1)
PY
