#!/usr/bin/python3
"""adv_train_torch.py: the PyTorch peer of `gibbon train --adv pgd` for
bench/bench_adv_train.sh.

One PGD-k adversarial-training step on the zoo "cnn" (bench_torch.py's
make_cnn: conv32-conv64-fc128-drop0.3), as src/train/train.c and
src/train/adversarial.c do it (Madry et al. 2018):
  - inner maximization in eval mode: uniform start in the eps L-inf ball
    (clipped to [0, 1]), k steps of alpha = 2.5 eps / k along the sign of
    the input gradient of the mean cross-entropy, projected after each step;
  - a clean eval-mode forward for the progress line (gibbon reports clean
    loss/accuracy too);
  - train mode: forward on x_adv, mean cross-entropy, backward, Adam step.
Random images in [0, 1] and random labels (the cost does not depend on the
pixels). Prints one line: torch_images_per_s <median over R repetitions>
per_cpu_s <the same per second of process CPU time>.

usage: adv_train_torch.py [--batch 128] [--steps 7] [--eps 0.1] [--iters 10] [--reps 3] [--threads 2]
"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_torch import make_cnn  # noqa: E402


def pgd(model, x, y, eps, steps):
    alpha = 2.5 * eps / steps
    xa = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = F.cross_entropy(model(xa), y)
        (g,) = torch.autograd.grad(loss, xa)
        with torch.no_grad():
            xa = xa + alpha * g.sign()
            xa = torch.min(torch.max(xa, x - eps), x + eps).clamp(0, 1)
    return xa.detach()


def step(model, opt, x, y, eps, steps):
    model.eval()
    xa = pgd(model, x, y, eps, steps)
    with torch.no_grad():
        clean = model(x)
        F.cross_entropy(clean, y).item()
    model.train()
    opt.zero_grad()
    loss = F.cross_entropy(model(xa), y)
    loss.backward()
    opt.step()
    return loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = make_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.rand(a.batch, 1, 28, 28), torch.randint(0, 10, (a.batch,))
    for _ in range(2):
        step(model, opt, x, y, a.eps, a.steps)
    rates, cpu_rates = [], []
    for _ in range(a.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.iters):
            step(model, opt, x, y, a.eps, a.steps)
        rates.append(a.iters * a.batch / (time.perf_counter() - t0))
        cpu_rates.append(a.iters * a.batch / (time.process_time() - c0))
    print(f"torch_images_per_s {statistics.median(rates):.1f} per_cpu_s {statistics.median(cpu_rates):.1f}")


if __name__ == "__main__":
    main()
