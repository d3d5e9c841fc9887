#!/usr/bin/env bash
# transfer_experiment.sh — reproduces the transfer matrix in README.md
# ("Transferability"): trains three small Fashion-MNIST models (different
# architectures and seeds, 2-3 epochs on 30,000-60,000 training images so
# the run stays modest on a shared 2-core machine), then crafts MI-FGSM at
# eps 0.1 (plain, with DI, with TI) on two sources (a small CNN and an MLP)
# and on their logit-averaged ensemble, and evaluates every example on every
# target: the two sources (white-box), a CNN of another architecture and
# seed, the shipped CNN and the shipped PGD-adversarially-trained CNN
# (models/fmnist_cnn_pgd.onnx, README "Defenses"; PGD_MODEL overrides, an
# empty PGD_MODEL leaves it out).
#
#   bash bench/transfer_experiment.sh [OUT]      (default OUT=out/transfer)
#
# Models are written to OUT/models (not committed: this script regenerates
# them; existing ones are reused). GIBBON selects the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
G=${GIBBON:-build/release/gibbon}
OUT=${1:-out/transfer}
N=${N:-500}
PGD_MODEL=${PGD_MODEL-models/fmnist_cnn_pgd.onnx}
export OPENBLAS_NUM_THREADS=1
mkdir -p "$OUT/models"

train() { # name arch epochs seed training-images [extra flags]
    local f="$OUT/models/$1.onnx" arch=$2 epochs=$3 seed=$4 n=$5
    shift 5
    [ -f "$f" ] && return 0
    nice -n 10 "$G" train --arch "$arch" --epochs "$epochs" --seed "$seed" --data fashion-mnist:train:"$n" \
        --test none --out "$f" "$@"
}
train cnn_a   cnn                    3 11 60000
train mlp     fc256-fc128            3 14 30000
train small   conv16-fc64            2 13 30000
[ "${TRAIN_ONLY:-0}" = 1 ] && exit 0

M=$OUT/models
SOURCES=$M/small.onnx,$M/mlp.onnx
TARGETS=$M/small.onnx,$M/mlp.onnx,$M/cnn_a.onnx,models/fmnist_cnn.onnx
if [ -n "$PGD_MODEL" ]; then
    [ -f "$PGD_MODEL" ] || { echo "transfer_experiment: $PGD_MODEL not found (PGD_MODEL= to leave it out)" >&2; exit 1; }
    TARGETS=$TARGETS,$PGD_MODEL
fi

for v in "mifgsm" "mifgsm --di 0.5" "mifgsm --ti 5"; do
    name=$(echo "$v" | tr -d ' -' )
    # shellcheck disable=SC2086
    nice -n 10 "$G" transfer --source "$SOURCES" --target "$TARGETS" --attack $v --eps 0.1 \
        --data fashion-mnist:test:"$N" --out "$OUT/$name"
done
# Chance level: random +-0.1 sign noise on the same images.
# shellcheck disable=SC2086
/usr/bin/python3 bench/transfer_noise_baseline.py 0.1 "$N" ${TARGETS//,/ }
