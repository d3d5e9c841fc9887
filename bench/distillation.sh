#!/usr/bin/env bash
# distillation.sh — reproduces the defensive-distillation table in README.md
# (Papernot et al. 2016, broken by Carlini & Wagner 2017): trains a teacher
# cnn at temperature T (default 100) and a student distilled from it at the
# same T, both deployed at T = 1, then attacks the undistilled shipped CNN
# (models/fmnist_cnn.onnx), an undistilled cnn with the student's training
# budget at T = 1, the teacher and the student on the first N test
# images with FGSM and PGD-40 on the cross-entropy loss, PGD-40 on the C&W
# margin loss (all L-inf, eps 0.1) and C&W-L2 (unbounded; median L2 of the
# successes). The cross-entropy's input gradient underflows on the
# distilled models (their logits come out ~T times larger), so the CE
# attacks look defeated; the margin loss is not masked.
#
#   bash bench/distillation.sh [OUT]      (default OUT=out/distillation)
#
# EPOCHS (2; the teacher's), STUDENT_EPOCHS (EPOCHS), TRAIN (fashion-mnist:train), N (500), CW_N (N: C&W-L2 is the
# slow one), T (100), GIBBON (the binary) override the defaults. Models go to OUT/models (not committed:
# this script regenerates them; existing ones are reused). Prints a markdown
# table and writes it to OUT/table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
G=${GIBBON:-build/release/gibbon}
OUT=${1:-out/distillation}
EPOCHS=${EPOCHS:-2}
TRAIN=${TRAIN:-fashion-mnist:train}
N=${N:-500}
T=${T:-100}
CW_N=${CW_N:-$N}
STUDENT_EPOCHS=${STUDENT_EPOCHS:-$EPOCHS}
M=$OUT/models
mkdir -p "$M"

train() { # file epochs [extra flags]
    local f=$1 epochs=$2
    shift 2
    [ -f "$f" ] && return 0
    "$G" train --arch cnn --epochs "$epochs" --seed 5 --data "$TRAIN" --test none --out "$f" "$@" </dev/null
}

field() { # summary.json key
    /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2], d.get("runs", [{}])[0].get(sys.argv[2])))' "$1" "$2"
}
attack() { # model dir images [flags]
    local model=$1 dir=$2 n=$3
    shift 3
    [ -f "$dir/summary.json" ] || "$G" attack --model "$model" --data fashion-mnist:test:"$n" --out "$dir" "$@" \
        >/dev/null </dev/null
}
row() { # label model
    local label=$1 model=$2 d=$OUT/$(basename "$2" .onnx)
    attack "$model" "$d/fgsm" "$N" --attack fgsm --eps 0.1 --loss ce
    attack "$model" "$d/pgd_ce" "$N" --attack pgd --eps 0.1 --steps 40 --loss ce
    attack "$model" "$d/pgd_cw" "$N" --attack pgd --eps 0.1 --steps 40 --loss cw
    attack "$model" "$d/cw_l2" "$CW_N" --attack cw-l2 --binary-steps 5 --steps 200
    printf '| %s | %.3f | %.3f | %.3f | %.3f | %.3f (median L2 %.2f) |\n' "$label" \
        "$(field "$d/fgsm/summary.json" clean_accuracy)" \
        "$(field "$d/fgsm/summary.json" success_rate)" "$(field "$d/pgd_ce/summary.json" success_rate)" \
        "$(field "$d/pgd_cw/summary.json" success_rate)" "$(field "$d/cw_l2/summary.json" success_rate)" \
        "$(field "$d/cw_l2/summary.json" median_l2)"
}
# ATTACK_ONLY=model.onnx: just that model's attacks (to run rows in parallel).
[ "${ATTACK_ONLY:-}" ] && { row "$ATTACK_ONLY" "$ATTACK_ONLY"; exit 0; }
train "$M/teacher_t$T.onnx" "$EPOCHS" --temperature "$T"
train "$M/distilled_t$T.onnx" "$STUDENT_EPOCHS" --temperature "$T" --distill-from "$M/teacher_t$T.onnx"
train "$M/plain_t1.onnx" "$STUDENT_EPOCHS" # the student's budget at T = 1: what distillation changes
[ "${TRAIN_ONLY:-0}" = 1 ] && exit 0
{
    echo "| model (deployed at T = 1) | clean | FGSM (CE) | PGD-40 (CE) | PGD-40 (C&W margin) | C&W-L2 (first $CW_N) |"
    echo "|---|---|---|---|---|---|"
    row "undistilled (models/fmnist_cnn.onnx)" models/fmnist_cnn.onnx
    row "undistilled, $STUDENT_EPOCHS epoch(s) at T = 1" "$M/plain_t1.onnx"
    row "teacher, trained at T = $T" "$M/teacher_t$T.onnx"
    row "distilled student, T = $T" "$M/distilled_t$T.onnx"
} | tee "$OUT/table.md"
