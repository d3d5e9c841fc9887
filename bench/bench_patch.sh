#!/usr/bin/env bash
# Adversarial-patch training throughput, gibbon vs a PyTorch reference of
# the same pipeline (bench/patch_torch.py) in the same run: random
# placement (scale, rotation, location) + transformations (rotation, scale,
# brightness, noise) + the shipped CNN forward and backward + Adam on the
# patch, batches of 32. Prints images/s of each and the ratio; CPU/wall is
# printed too (~2.0: both cores were ours, ~1.0: contended). Numbers are
# noisy on a shared 2-core machine: run it more than once.
#   bash bench/bench_patch.sh [STEPS]       (needs a release build)
set -eu
cd "$(dirname "$0")/.."
G=${GIBBON:-build/release/gibbon}
M=${MODEL:-models/fmnist_cnn.onnx}
STEPS=${1:-100}
TF="rotate=-10:10,scale=0.9:1.1,brightness=-0.1:0.1,noise=0.01"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/time -f "%e %U %S" -o "$tmp/g.t" "$G" patch --model "$M" --target 8 --size 0.1 --steps "$STEPS" --batch 32 \
  --transforms "$TF" --data fashion-mnist:test:4000 --test-data fashion-mnist:test:20 --samples 1 --grid 0 \
  --out "$tmp/g" >"$tmp/g.log" 2>&1
OPENBLAS_NUM_THREADS=1 /usr/bin/time -f "%e %U %S" -o "$tmp/t.t" /usr/bin/python3 bench/patch_torch.py "$M" "$STEPS" 32 8 0.1 >"$tmp/t.log" 2>&1
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
g = json.load(open(f"{d}/g/summary.json"))["sizes"][0]["train_images_per_s"]
t = float([l.split()[1] for l in open(f"{d}/t.log") if l.startswith("torch_images_per_s")][0])
def cpu(f):
    w, u, s = map(float, open(f).read().split())
    return (u + s) / w if w > 0 else 0
print(f"patch training (fmnist_cnn, batch 32, EOT transforms): gibbon {g:.0f} img/s (cpu/wall {cpu(d + '/g.t'):.2f}), "
      f"torch {t:.0f} img/s (cpu/wall {cpu(d + '/t.t'):.2f}), ratio gibbon/torch {g / t:.2f}")
PY
