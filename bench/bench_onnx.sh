#!/usr/bin/env bash
# gibbon vs PyTorch on imported ResNet-18s, in the same run:
#   torchvision resnet18 at 3x224x224, batch 8
#   ResNet-18 for CIFAR (3x3 stem, no max-pool) at 3x32x32, batch 128
# forward and forward + input gradient images/s (medians, CPU/wall), the
# gibbon/torch ratios, and the rate gibbon's convolutions reach as a fraction
# of the machine's FP32 peak (PEAK_GFLOPS, default 232: 2 Zen 4 cores at
# ~3.6 GHz, AVX2 rate). Both sides run the same weights (the ONNX files are
# torch's export). Usage: [BUILD=release] bash bench/bench_onnx.sh [REPS]
# (results also in out/bench_onnx.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
peak=${PEAK_GFLOPS:-232}
py=/usr/bin/python3
bash scripts/install-deps.sh bench >/dev/null
build=${BUILD:-release}
make -j2 BUILD="$build" bench_onnx >/dev/null
bin=build/$build/bench/bench_onnx
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p out
"$py" bench/bench_onnx.py export "$tmp" 2>/dev/null
res=out/bench_onnx.jsonl
: >"$res"
for spec in "resnet18_224 8" "resnet18_cifar 128"; do
  set -- $spec
  GIBBON_THREADS=2 OPENBLAS_NUM_THREADS=1 "$bin" "$tmp/$1.onnx" "$2" "$reps" | tee -a "$res"
  OPENBLAS_NUM_THREADS=1 "$py" bench/bench_onnx.py run "$1" "$2" "$reps" | tee -a "$res"
done
"$py" - "$res" "$peak" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
peak = float(sys.argv[2])
get = lambda impl, model, what: next((r for r in rows if r["impl"] == impl and r["model"] == model and r["what"] == what), None)
print("\n%-20s %-11s %12s %12s %8s   cpu/wall g/t" % ("model", "measure", "gibbon img/s", "torch img/s", "ratio"))
for model in ("resnet18_224.onnx", "resnet18_cifar.onnx"):
    for what in ("forward", "input_grad"):
        g, t = get("gibbon", model, what), get("torch", model, what)
        print("%-20s %-11s %12.2f %12.2f %7.2fx   %.2f / %.2f" % (model, what, g["images_per_sec"], t["images_per_sec"],
              g["images_per_sec"] / t["images_per_sec"], g["cpu_over_wall"], t["cpu_over_wall"]))
    c = get("gibbon", model, "conv_forward")
    print("%-20s convs: %.1f GFLOP per batch in %.3f s = %.1f GFLOP/s = %.0f%% of %.0f GFLOP/s peak" % (
          model, c["conv_gflop"], c["conv_sec"], c["conv_gflops_per_sec"], 100 * c["conv_gflops_per_sec"] / peak, peak))
PY
