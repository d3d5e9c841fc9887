#!/usr/bin/env bash
# Runs gibbon and the independent PyTorch reference (attacks_torch.py) on the
# same model and test images and checks agreement: robust accuracy within 1
# percentage point for FGSM, BIM, PGD-40, MI-FGSM, APGD-CE (first N images)
# and DeepFool, C&W-L2 (first CW_N); C&W's mean L2 within 5%.
#   bash tests/reference/compare.sh [N] [CW_N]      (from the project root; ~10-20 min)
# Needs a release build (GIBBON, default build/release/gibbon).
set -eu
cd "$(dirname "$0")/../.."
G=${GIBBON:-build/release/gibbon}
M=${MODEL:-models/fmnist_cnn.onnx}
N=${1:-1000}
CWN=${2:-200}
CW=${CW:-5,100,0.05,0.1} # binary steps, iterations, lr, c0 (the authors': 9,10000,0.01,0.001)
IFS=, read -r BS IT LR C0 <<<"$CW"
out=${OUT:-out/reference}
mkdir -p "$out"
g() { local name=$1 n=$2; shift 2
  "$G" attack --model "$M" --data "fashion-mnist:test:$n" --out "$out/gibbon_$name" "$@" >/dev/null; }
g fgsm "$N" --attack fgsm --eps 0.1
g bim "$N" --attack bim --eps 0.1
g pgd "$N" --attack pgd --eps 0.1
g mifgsm "$N" --attack mifgsm --eps 0.1
g apgd "$N" --attack apgd --eps 0.1
g deepfool "$CWN" --attack deepfool
g cw "$CWN" --attack cw-l2 --binary-steps "$BS" --steps "$IT" --lr "$LR" --initial-const "$C0"
OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tests/reference/attacks_torch.py --model "$M" --n "$N" --cw-n "$CWN" \
  --cw "$CW" --json "$out/torch.json"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
ref = {r["attack"]: r for r in json.load(open(d + "/torch.json"))}
bad = 0
print(f"{'attack':10s} {'gibbon':>8s} {'torch':>8s}  robust accuracy / mean L2 of successes")
for name, r in ref.items():
    s = json.load(open(f"{d}/gibbon_{name}/summary.json"))
    ex = json.load(open(f"{d}/gibbon_{name}/examples.json"))
    ok = abs(s["robust_accuracy"] - r["robust_accuracy"]) <= 0.01
    line = f"{name:10s} {s['robust_accuracy']:8.4f} {r['robust_accuracy']:8.4f}"
    if name in ("cw", "deepfool"):
        succ = [e["l2"] for e in ex if e["success"] and e["clean_pred"] == e["true_label"]]
        gl2 = sum(succ) / len(succ)
        rel = abs(gl2 - r["mean_l2_success"]) / r["mean_l2_success"]
        line += f"   L2 {gl2:.4f} vs {r['mean_l2_success']:.4f} ({100 * rel:.1f}%)"
        if name == "cw": ok = ok and rel <= 0.05
    print(line, "ok" if ok else "DISAGREE")
    bad += not ok
sys.exit(1 if bad else 0)
PY
