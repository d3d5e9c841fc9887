#!/usr/bin/env bash
# bench_adv_train.sh — PGD-7 adversarial-training throughput on the zoo
# "cnn", gibbon vs PyTorch (bench/adv_train_torch.py, the same step: eval-
# mode PGD-7 at eps 0.1 from a uniform start, a clean eval forward for the
# progress line, then a train-mode forward/backward on x_adv and an Adam
# step), batch 128. The two are interleaved ROUNDS times in the same run;
# prints the median images/s of each and the ratio of the medians.
# gibbon's number is its own epoch line's img/s (training loop only, over
# fashion-mnist:train:IMAGES), PyTorch's is timed over ITERS batches after
# a warm-up; both are also given per second of process CPU time (user +
# sys), the steadier number when the machine is shared. THREADS (2) sets
# OMP_NUM_THREADS and torch.set_num_threads. Run it idle for wall numbers.
#   bash bench/bench_adv_train.sh          (needs a release build)
set -eu
cd "$(dirname "$0")/.."
G=${GIBBON:-build/release/gibbon}
ROUNDS=${ROUNDS:-3}
IMAGES=${IMAGES:-1280}
ITERS=${ITERS:-10}
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for r in $(seq "$ROUNDS"); do
    /usr/bin/time -f "%U %S" -o "$tmp/g$r.t" "$G" train --arch cnn --adv pgd --adv-eps 0.1 --adv-steps 7 --epochs 1 --batch 128 \
        --data fashion-mnist:train:"$IMAGES" --test none --out "$tmp/m.onnx" --checkpoint "$tmp/m.ckpt" \
        </dev/null 2>"$tmp/g$r.log" >/dev/null
    rm -f "$tmp/m.onnx" "$tmp/m.ckpt"
    /usr/bin/python3 bench/adv_train_torch.py --steps 7 --eps 0.1 --iters "$ITERS" --reps 1 \
        --threads "$THREADS" >"$tmp/t$r.log"
done
/usr/bin/python3 - "$tmp" "$ROUNDS" "$THREADS" "$IMAGES" <<'PY'
import re, statistics, sys
d, rounds, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3]
images = int(sys.argv[4])
g, t, gc, tc = [], [], [], []
for r in range(1, rounds + 1):
    line = [l for l in open(f"{d}/g{r}.log") if l.startswith("epoch 1/1  loss")][-1]
    g.append(float(re.search(r"([0-9.]+) img/s", line).group(1)))
    gc.append(images / sum(map(float, open(f"{d}/g{r}.t").read().split())))
    f = open(f"{d}/t{r}.log").read().split()
    t.append(float(f[1]))
    tc.append(float(f[3]))
med = statistics.median
print(f"PGD-7 adversarial training, cnn, batch 128, {threads} thread(s), {rounds} interleaved rounds (medians):")
print(f"  per wall second: gibbon {med(g):.0f} img/s, torch {med(t):.0f} img/s, ratio {med(g) / med(t):.2f}")
print(f"  per CPU second:  gibbon {med(gc):.0f} img/s, torch {med(tc):.0f} img/s, ratio {med(gc) / med(tc):.2f}"
      f"  (gibbon's includes process start-up and data loading)")
PY
