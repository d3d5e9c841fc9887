#!/usr/bin/python3
"""square_ref.py — an independent Square Attack (L-inf) in numpy, written from
Andriushchenko et al. 2020 (Alg. 1, sec. 3.1, the p schedule of their
appendix), run on the shipped model through tests/oracle_example.py's numpy
forward. Prints the success rate over the correctly classified images among
the first N test images, for comparison with `gibbon attack --attack square`
(tests/reference/square_compare.sh). Its random numbers differ from gibbon's,
so only rates are compared.

  /usr/bin/python3 tests/reference/square_ref.py N BUDGET EPS [SEED]
"""
import gzip
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 2)[0])
from oracle_example import Model  # noqa: E402


def p_schedule(p_init, it, n_iters):
    """Table of the paper's appendix: p halves after 10, 50, 200, 500, 1k, 2k, 4k, 6k, 8k of 10k."""
    it = int(it / n_iters * 10000)
    for k, b in enumerate([10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]):
        nxt = [50, 200, 500, 1000, 2000, 4000, 6000, 8000, 10000][k]
        if b < it <= nxt:
            return p_init / 2 ** (k + 1)
    return p_init


def log_softmax(z):
    z = z.astype(np.float64)
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def margin(lp, y):
    other = lp.copy()
    other[np.arange(len(y)), y] = -np.inf
    return lp[np.arange(len(y)), y] - other.max(1)


def main():
    n, budget, eps = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    rng = np.random.default_rng(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16)[: n * 784].reshape(n, 1, 28, 28).astype(np.float32) / 255
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype(np.int64)
    model = Model("models/fmnist_cnn.onnx")
    pred = model.forward(x).argmax(1)
    ok = pred == y
    x, y = x[ok], y[ok]
    c, h, w = x.shape[1:]
    n_iters = budget - 1  # the clean query counts against the budget, as in gibbon
    # Vertical stripes: one +-eps per channel and column.
    best = np.clip(x + eps * rng.choice([-1, 1], size=(len(x), c, 1, w)), 0, 1).astype(np.float32)
    loss = margin(log_softmax(model.forward(best)), y)
    queries = np.full(len(x), 2)
    for it in range(n_iters - 1):
        act = np.where(loss > 0)[0]
        if len(act) == 0:
            break
        p = p_schedule(0.8, it, n_iters)
        s = min(max(int(round(np.sqrt(p * h * w))), 1), h - 1)
        new = best[act].copy()
        for j, i in enumerate(act):
            delta = best[i] - x[i]
            r0, c0 = rng.integers(0, h - s), rng.integers(0, w - s)
            win = (slice(None), slice(r0, r0 + s), slice(c0, c0 + s))
            while np.all(np.abs(np.clip(x[i][win] + delta[win], 0, 1) - best[i][win]) < 1e-7):
                delta[win] = eps * rng.choice([-1, 1], size=(c, 1, 1))
            new[j] = np.clip(x[i] + delta, 0, 1)
        l_new = margin(log_softmax(model.forward(new)), y[act])
        better = l_new < loss[act]
        best[act[better]] = new[better]
        loss[act[better]] = l_new[better]
        queries[act] += 1
    won = loss <= 0
    print(f"square_ref: {won.sum()}/{len(won)} = {won.mean():.4f} success, "
          f"median queries of successes {np.median(queries[won]) if won.any() else 0:.0f}")


if __name__ == "__main__":
    main()
