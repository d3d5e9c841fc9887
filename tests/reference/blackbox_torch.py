#!/usr/bin/python3
"""blackbox_torch.py — independent PyTorch references of two black-box
attacks, written from the papers (not from gibbon's C), on the ONNX model
loaded into torch ops (attacks_torch.OnnxTorch) and the first N
Fashion-MNIST test images. Only the examples the model classifies correctly
are attacked; the clean query counts against the per-image budget, as in
gibbon.

Square Attack, L-inf (Andriushchenko et al. 2020, Alg. 1 and sec. 3.1):
  start: vertical stripes, x + eps * s_{c,w} with s = +-1 per channel and
  column; loss: margin z_y - max_{j!=y} z_j of the logits; iteration i of
  n_iters = budget - 1: p(i) = p_init (0.8) halved after 10, 50, 200, 500,
  1k, 2k, 4k, 6k, 8k of 10k iterations (rescaled to n_iters), window side
  s = round(sqrt(p H W)) in [1, H-1] at a uniform position, its pixels set to
  x + eps * (+-1 per channel), redrawn while the window would not change;
  the candidate is kept if its margin is lower. All images step together
  (one batched forward per iteration); an image stops at its first success.

HopSkipJump, L2 (Chen, Jordan & Wainwright 2020, Alg. 1-2, sec. 4, default
gamma = 1):
  theta = gamma / d^{3/2}; init: the 5 images of the loaded set nearest to
  x0 (L2) that the model labels other than y (their labels come from the
  clean pass: no query), each with a binary search on the blend
  (1-a) x0 + a x_j to (high - low) <= 1e-2; the smallest a ||x_j - x0||
  wins and its search goes on to (high - low) <= theta (with no such image:
  the paper's uniform noise until misclassified, then the same search from
  [0, 1]); iteration t = 1, 2, ...: delta_t = 0.1 (t = 1) or
  sqrt(d) theta dist_{t-1}; n_t = min(100 sqrt(t), 10^4, queries left - 1 -
  ceil(log2(1 / theta))) (the step and the binary search keep their
  queries; stop below 1) unit Gaussian
  directions u_b, x_t + delta u_b clipped to [0,1], phi_b = +-1 (adversarial
  or not), g = mean((phi - mean phi) u) (eq. 16; mean(phi u) if all phi
  agree), normalized; step xi = dist / sqrt(t) halved until x_t + xi g
  (clipped) is adversarial; binary search again. Every query is counted and
  the attack stops when the budget is spent; the result is the last point
  on the adversarial side closest to x0.

  /usr/bin/python3 tests/reference/blackbox_torch.py --model models/fmnist_cnn.onnx \
      --n 100 --attack square --eps 0.1 --queries 1000 --seed 1 --json out.json
  /usr/bin/python3 tests/reference/blackbox_torch.py --attack hsj --n 20 --queries 1000

Prints one line and (--json) writes success rate, per-image queries /
L2 distances and the run time. blackbox_compare.sh compares with gibbon;
bench/bench_blackbox.sh times it (--bench-oracle times plain batch scoring).
"""
import argparse, json, math, os, statistics, sys, time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attacks_torch import OnnxTorch, load_fmnist  # noqa: E402


def margin(z, y):
    zy = z.gather(1, y[:, None])[:, 0]
    return zy - z.scatter(1, y[:, None], float("-inf")).max(1).values


def p_schedule(p_init, it, n_iters):
    i = int(it / max(n_iters, 1) * 10000)
    bounds = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000, 10000]
    for k in range(9):
        if bounds[k] < i <= bounds[k + 1]:
            return p_init / 2 ** (k + 1)
    return p_init


def square_linf(model, x, y, eps, budget, gen, p_init=0.8):
    n, c, h, w = x.shape
    n_iters = budget - 1
    sign = lambda *s: torch.randint(0, 2, s, generator=gen).float() * 2 - 1  # noqa: E731
    best = (x + eps * sign(n, c, 1, w)).clamp(0, 1)
    with torch.no_grad():
        loss = margin(model(best), y)
    queries = torch.full((n,), 2, dtype=torch.long)  # the clean image and the start
    for it in range(n_iters - 1):
        act = (loss > 0).nonzero()[:, 0]
        if len(act) == 0:
            break
        p = p_schedule(p_init, it, n_iters)
        s = min(max(int(round(math.sqrt(p * h * w))), 1), h - 1)
        xa, ba = x[act], best[act]
        delta = ba - xa
        r0 = torch.randint(0, h - s, (len(act),), generator=gen)
        c0 = torch.randint(0, w - s, (len(act),), generator=gen)
        rows = (r0[:, None] + torch.arange(s))[:, :, None].expand(-1, s, s)
        cols = (c0[:, None] + torch.arange(s))[:, None, :].expand(-1, s, s)
        bidx = torch.arange(len(act))[:, None, None].expand(-1, s, s)
        todo = torch.ones(len(act), dtype=torch.bool)
        while todo.any():
            k = todo.nonzero()[:, 0]
            val = eps * sign(len(k), c)  # one +-eps per channel in the window
            d = delta[bidx[k], :, rows[k], cols[k]]  # (k, s, s, c)
            d[:] = val[:, None, None, :]
            delta[bidx[k], :, rows[k], cols[k]] = d
            cand = (xa[bidx[k], :, rows[k], cols[k]] + d).clamp(0, 1)
            same = ((cand - ba[bidx[k], :, rows[k], cols[k]]).abs() < 1e-7).flatten(1).all(1)
            todo[k[~same]] = False
        new = (xa + delta).clamp(0, 1)
        with torch.no_grad():
            l_new = margin(model(new), y[act])
        better = l_new < loss[act]
        best[act[better]] = new[better]
        loss[act[better]] = l_new[better]
        queries[act] += 1
    return loss <= 0, queries, best


class Oracle:
    """Label queries for one image, counted against a budget."""

    def __init__(self, model, y, budget):
        self.model, self.y, self.left, self.used = model, y, budget - 1, 1  # the clean query

    def adv(self, xb):
        if len(xb) > self.left:
            raise StopIteration
        self.left -= len(xb)
        self.used += len(xb)
        with torch.no_grad():
            return self.model(xb).argmax(1) != self.y


def hsj_l2(model, x0, y, budget, gen, pool, pool_pred):
    d = x0.numel()
    theta = 1.0 / (math.sqrt(d) * d)
    o = Oracle(model, y, budget)
    best = None

    def blend(p, lo, hi, tol):
        while hi - lo > tol:
            m = 0.5 * (lo + hi)
            if o.adv(((1 - m) * x0 + m * p)[None])[0]:
                hi = m
            else:
                lo = m
        return lo, hi

    try:
        start, lo, hi, best_d = None, 0.0, 1.0, float("inf")
        other = (pool_pred != y).nonzero()[:, 0]
        dj = (pool[other] - x0).flatten(1).norm(dim=1)
        for j in other[dj.argsort(stable=True)[:5]]:
            dist_j = (pool[j] - x0).norm().item()
            l, h = blend(pool[j], 0.0, 1.0, 1e-2)
            if h * dist_j < best_d:
                start, lo, hi, best_d = pool[j], l, h, h * dist_j
        while start is None and o.left > budget // 2:  # at most half the budget on the start
            z = torch.rand(x0.shape, generator=gen)
            if o.adv(z[None])[0]:
                start = z
        if start is None:
            return None, o.used
        lo, hi = blend(start, lo, hi, theta)
        cur = (1 - hi) * x0 + hi * start
        best = cur

        def bsearch(p):
            lo, hi = 0.0, 1.0
            while (hi - lo) / theta > 1:
                m = 0.5 * (lo + hi)
                if o.adv(((1 - m) * x0 + m * p)[None])[0]:
                    hi = m
                else:
                    lo = m
            return (1 - hi) * x0 + hi * p

        dist_post = 0.0  # only read from t = 2 on
        dist = best_dist = (cur - x0).norm().item()
        keep = 1 + math.ceil(math.log2(1 / theta))
        t = 1
        while o.left > 0:
            delta = 0.1 if t == 1 else math.sqrt(d) * theta * dist_post
            nb = min(int(100 * math.sqrt(t)), 10000, o.left - keep)
            if nb < 1:
                break
            u = torch.randn((nb,) + tuple(x0.shape), generator=gen)
            u = u / u.flatten(1).norm(dim=1)[:, None, None, None]
            pts = (cur + delta * u).clamp(0, 1)
            u = (pts - cur) / delta
            phi = o.adv(pts).float() * 2 - 1
            if phi.mean().abs() == 1:
                g = phi.mean() * u.mean(0)
            else:
                g = ((phi - phi.mean())[:, None, None, None] * u).mean(0)
            g = g / g.norm()
            xi = dist / math.sqrt(t)
            while True:
                nxt = (cur + xi * g).clamp(0, 1)
                if o.adv(nxt[None])[0]:
                    break
                xi /= 2
            dist_post = (nxt - x0).norm().item()
            cur = bsearch(nxt)
            nd = (cur - x0).norm().item()
            if nd <= best_dist:
                best, best_dist = cur, nd
            dist = nd
            t += 1
    except StopIteration:
        pass
    return best, o.used


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/fmnist_cnn.onnx")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--attack", choices=["square", "hsj"], default="square")
    ap.add_argument("--eps", type=float, default=0.1, help="square: L-inf radius")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    ap.add_argument("--bench-oracle", type=int, default=0, metavar="BATCH",
                    help="time plain batch scoring (queries/s) instead of attacking")
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = OnnxTorch(a.model).eval()
    x, y = load_fmnist(a.n)
    gen = torch.Generator().manual_seed(a.seed)
    if a.bench_oracle:
        xb = x[: a.bench_oracle] if a.n >= a.bench_oracle else x.repeat(a.bench_oracle // a.n + 1, 1, 1, 1)[: a.bench_oracle]
        t0, q = time.process_time(), 0
        while time.process_time() - t0 < 2.0:
            with torch.no_grad():
                model(xb).softmax(1)
            q += len(xb)
        qps = q / (time.process_time() - t0)
        print(f"torch oracle: batch {len(xb)}: {qps:.0f} queries/s (CPU time)")
        out = {"queries_per_s": qps}
    else:
        with torch.no_grad():
            ok = model(x).argmax(1) == y
        xc, yc = x[ok], y[ok]
        t0 = time.process_time()
        if a.attack == "square":
            won, q, _ = square_linf(model, xc, yc, a.eps, a.queries, gen)
            l2 = []
        else:
            won, q, l2 = [], [], []
            with torch.no_grad():
                pred = model(x).argmax(1)
            for i in range(len(xc)):
                adv, used = hsj_l2(model, xc[i], yc[i], a.queries, gen, x, pred)
                won.append(adv is not None)
                q.append(used)
                l2.append((adv - xc[i]).norm().item() if adv is not None else float("inf"))
            won, q = torch.tensor(won), torch.tensor(q)
        sec = time.process_time() - t0
        out = {"attack": a.attack, "n": a.n, "attacked": int(ok.sum()), "success_rate": won.float().mean().item(),
               "queries": q.tolist(), "l2": l2, "cpu_seconds": sec, "images_per_s": len(xc) / sec}
        med = statistics.median(l2) if l2 else 0
        print(f"torch {a.attack}: {int(won.sum())}/{len(won)} = {out['success_rate']:.4f} success, "
              f"mean queries {q.float().mean().item():.1f}" + (f", median L2 {med:.4f}" if l2 else "") +
              f", {sec:.1f} s CPU")
    if a.json:
        json.dump(out, open(a.json, "w"))


if __name__ == "__main__":
    main()
