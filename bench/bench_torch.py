#!/usr/bin/python3
"""bench_torch.py: the PyTorch peer of bench_cnn.c.

The zoo "cnn" (conv32-conv64-fc128-drop0.3) rebuilt in PyTorch with the same
layers: (x - 0.286) / 0.353, conv 3x3 pad 1 (32) + ReLU + 2x2 max-pool,
conv 3x3 pad 1 (64) + ReLU + 2x2 max-pool, flatten 3136, linear 128 + ReLU,
dropout 0.3, linear 10. Random images in [0, 1] and random labels, batch 128,
torch.set_num_threads(2). Run under /usr/bin/python3 (Debian's python3-torch)
with OPENBLAS_NUM_THREADS=1 so OpenBLAS and OpenMP do not oversubscribe.

Measurements (one JSON line each, same fields as bench_cnn):
  train       train mode: zero_grad + forward + mean cross-entropy + backward
              + torch.optim.Adam step
  forward     eval mode, torch.no_grad(): forward
  input_grad  eval mode: forward + summed cross-entropy +
              torch.autograd.grad(loss, x). Parameters keep requires_grad=True
              as in a real attack loop; autograd.grad only runs the graph
              parts that lead to x, so no weight gradients are computed.
Each: warm-up iterations, then R repetitions of K iterations; median
images/s and median CPU/wall ratio (time.process_time / time.perf_counter).

--profile prints torch.profiler's per-op table for train and input_grad to
stderr.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.full((1, 1, 1, 1), 0.2860))
        self.register_buffer("std", torch.full((1, 1, 1, 1), 0.3530))

    def forward(self, x):
        return (x - self.mean) / self.std


def make_cnn():
    return nn.Sequential(
        Normalize(),
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3136, 128), nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(128, 10),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--only", choices=["train", "forward", "input_grad"])
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = make_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))

    def step_train():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def step_forward():
        with torch.no_grad():
            model(x)

    xa = x.clone().requires_grad_(True)  # autograd.grad leaves xa.grad alone

    def step_input_grad():
        loss = F.cross_entropy(model(xa), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xa)
        return g

    steps = [("train", step_train, True), ("forward", step_forward, False),
             ("input_grad", step_input_grad, False)]
    for name, step, training in steps:
        if a.only and a.only != name:
            continue
        model.train(training)
        for _ in range(a.warmup):
            step()
        ips, ratio, total = [], [], 0.0
        for _ in range(a.reps):
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(a.iters):
                step()
            w, c = time.perf_counter() - w0, time.process_time() - c0
            ips.append(a.iters * a.batch / w)
            ratio.append(c / w)
            total += w
        print(json.dumps({
            "impl": "torch", "measure": name, "batch": a.batch, "threads": a.threads,
            "reps": a.reps, "iters": a.iters,
            "img_per_s": round(statistics.median(ips), 1),
            "cpu_wall": round(statistics.median(ratio), 3), "wall_s": round(total, 3),
            "img_per_s_reps": [round(v, 1) for v in ips],
            "cpu_wall_reps": [round(v, 3) for v in ratio],
            "torch": torch.__version__,
        }), flush=True)

    if a.profile:
        from torch.profiler import ProfilerActivity, profile
        for name, step, training in steps:
            if name == "forward":
                continue
            model.train(training)
            for _ in range(a.warmup):
                step()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(a.reps * a.iters):
                    step()
            print(f"\ntorch profile: {name}, {a.reps * a.iters} iterations "
                  "(times are totals over all iterations)", file=sys.stderr)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25),
                  file=sys.stderr)


if __name__ == "__main__":
    main()
