#!/usr/bin/python3
"""Independent PyTorch port of APGD and APGD-T (Croce & Hein 2020, "Reliable
evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", sec. 3, Algorithm 1), written from the paper, not
from gibbon's C. It runs on the gibbon ONNX model (loaded into torch ops by
attacks_torch.OnnxTorch) and the first N Fashion-MNIST test images, and
prints / writes as JSON the robust accuracy after each attack, gradient
evaluations and time. compare_apgd.sh and tests/cli_apgd_ref.sh compare it
with `gibbon attack --attack apgd`; bench/bench_eval.sh times it.

  /usr/bin/python3 tests/reference/apgd_torch.py --model models/fmnist_cnn.onnx --n 1000 --eps 0.1

The algorithm, per example:
  x(0) = clip(x + eps * u / ||u||)  (u uniform in [-1,1]^D for L-inf, Gaussian for L2)
  eta = 2 eps;  x(1) = P(x(0) + eta s(x(0)))            (s: sign of the gradient, or g / ||g||_2)
  z(k+1) = P(x(k) + eta s(x(k)))
  x(k+1) = P(x(k) + 0.75 (z(k+1) - x(k)) + 0.25 (x(k) - x(k-1)))
  checkpoints w_0 = 0, w_1 = 0.22 N, gaps shrinking by 0.03 N down to 0.06 N;
  at w_j (once x(w_j) is known), halve eta and continue from x_max when
    1. f rose in fewer than rho (w_j - w_{j-1}) of the steps since w_{j-1}
       (counting f(x(i+1)) > f(x(i)), the first against f(x(0))), rho = 0.75, or
    2. eta was not halved at w_{j-1} and f_max did not improve since
       (at w_1 too: eta(w_0) = eta(w_1));
  the restarted iterate x(w_j) := x_max, so f(x(w_j)) := f_max for the next count.
Losses: CE; DLR (eq. 6) -(z_y - max_{i!=y} z_i) / (z_pi1 - z_pi3); targeted
DLR (eq. 7) -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2).
APGD-T (AutoAttack): targeted DLR against the 1st..9th highest clean logits
other than y in turn, 100 iterations each, each only on examples still
classified correctly; any misclassified iterate counts.
Examples misclassified clean are not attacked.

--variant code instead follows the authors' published code where it differs
from the paper: the first rise is counted against 0 instead of f(x(0)),
halving at <= rho k rises, condition 2 skipped at w_1, and the count after
a restart compares against the discarded iterate.
"""
import argparse, json, os, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attacks_torch import OnnxTorch, load_fmnist  # noqa: E402


def dlr(z, y):
    zs = z.sort(dim=1, descending=True).values
    zy = z.gather(1, y[:, None])[:, 0]
    other = z.scatter(1, y[:, None], float("-inf")).max(1).values
    return -(zy - other) / (zs[:, 0] - zs[:, 2] + 1e-12)


def dlr_targeted(z, y, t):
    zs = z.sort(dim=1, descending=True).values
    zy = z.gather(1, y[:, None])[:, 0]
    zt = z.gather(1, t[:, None])[:, 0]
    return -(zy - zt) / (zs[:, 0] - 0.5 * (zs[:, 2] + zs[:, 3]) + 1e-12)


def objective(name, y, t):
    # Cross-entropy in float64, as gibbon's (src/attacks/losses.c): in float32
    # d/dz_y = p_y - 1 rounds to 0 on confident examples.
    if name == "ce":
        return lambda z: F.cross_entropy(z.double(), y, reduction="none")
    if name == "dlr":
        return lambda z: dlr(z, y)
    if name == "dlr-t":
        return lambda z: dlr_targeted(z, y, t)
    if name == "ce-t":
        return lambda z: -F.cross_entropy(z.double(), t, reduction="none")
    raise SystemExit(f"unknown loss {name}")


def checkpoints(n_iter):
    """Iteration numbers w_1 < w_2 < ... <= n_iter at which the step size is reviewed."""
    gap, dec, low = max(int(0.22 * n_iter), 1), max(int(0.03 * n_iter), 1), max(int(0.06 * n_iter), 1)
    w, out = 0, []
    while w + gap <= n_iter:
        w += gap
        out.append(w)
        gap = max(gap - dec, low)
    return out


class Ball:
    def __init__(self, norm, x0, eps):
        self.norm, self.x0, self.eps = norm, x0, eps

    def _n(self, v):
        return v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)

    def project(self, x):
        d = x - self.x0
        if self.norm == "linf":
            d = d.clamp(-self.eps, self.eps)
        else:
            d = d * (self.eps / self._n(d)).clamp(max=1.0)
        return (self.x0 + d).clamp(0, 1)

    def direction(self, g):
        return g.sign() if self.norm == "linf" else g / self._n(g)

    def start(self, gen):
        if self.norm == "linf":
            u = 2 * torch.rand(self.x0.shape, generator=gen) - 1
            u = u / u.abs().flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
        else:
            u = torch.randn(self.x0.shape, generator=gen)
            u = u / self._n(u)
        return (self.x0 + self.eps * u).clamp(0, 1)


class Counter:
    grad_evals = 0


def value_and_grad(model, x, f):
    x = x.detach().requires_grad_(True)
    z = model(x)
    v = f(z)
    (g,) = torch.autograd.grad(v.sum(), x)
    Counter.grad_evals += len(x)
    return v.detach(), g.detach(), z.detach()


def apgd_run(model, x0, y, eps, n_iter, f, gen, norm="linf", variant="paper", rho=0.75, alpha=0.75):
    """Algorithm 1 on a batch. Returns (found, adv): whether an iterate was
    misclassified, and the last such iterate (else x0)."""
    B = len(x0)
    ball = Ball(norm, x0, eps)
    col = (-1, 1, 1, 1)
    x = ball.start(gen)
    fx, g, z = value_and_grad(model, x, f)
    found = z.argmax(1) != y
    adv = torch.where(found.view(col), x, x0)
    hist = [fx]  # hist[i] = f(x(i))
    x_max, f_max, g_max = x.clone(), fx.clone(), g.clone()
    eta = torch.full((B,), 2 * eps)
    x_prev = x.clone()
    W = checkpoints(n_iter)
    w_last, halved_last, fmax_last = 0, torch.zeros(B, dtype=torch.bool), f_max.clone()
    if variant == "code":
        halved_last = torch.ones(B, dtype=torch.bool)
    for k in range(n_iter):
        zk = ball.project(x + eta.view(col) * ball.direction(g))
        a = 1.0 if k == 0 else alpha
        x_new = ball.project(x + a * (zk - x) + (1 - a) * (x - x_prev))
        x_prev, x = x, x_new
        fx, g, z = value_and_grad(model, x, f)
        hist.append(fx)
        wrong = z.argmax(1) != y
        adv[wrong] = x[wrong]
        found |= wrong
        better = fx > f_max
        x_max[better], f_max[better], g_max[better] = x[better], fx[better], g[better]
        w = k + 1  # x(w) is now known
        if w in W:
            steps = w - w_last
            rises = torch.zeros(B)
            for i in range(w_last, w):
                before = hist[i]
                if variant == "code" and i == 0:
                    before = torch.zeros(B)
                rises += (hist[i + 1] > before).float()
            cond1 = rises <= rho * steps if variant == "code" else rises < rho * steps
            cond2 = ~halved_last & (f_max <= fmax_last)
            halve = cond1 | cond2
            eta[halve] /= 2
            x[halve], g[halve] = x_max[halve], g_max[halve]
            if variant == "paper":
                hist[w] = torch.where(halve, f_max, hist[w])
            halved_last, fmax_last, w_last = halve, f_max.clone(), w
    return found, adv


def wrong_classes_by_logit(z, y):
    """(B, K-1): the classes other than y by decreasing clean logit."""
    order = z.argsort(dim=1, descending=True, stable=True)
    keep = order != y[:, None]
    return order[keep].view(len(z), -1)


def apgd(model, x0, y, robust, adv, eps, n_iter, loss, gen, norm, variant, restarts=1, n_targets=0):
    """APGD (n_targets = 0) or APGD-T on the examples with robust[i]; updates
    robust, and adv with the adversarial images found, in place."""
    order = None
    if n_targets:
        with torch.no_grad():
            order = wrong_classes_by_logit(model(x0), y)
    passes = min(n_targets, order.shape[1]) if n_targets else 1
    for p in range(passes):
        for _ in range(restarts):
            idx = robust.nonzero()[:, 0]
            if len(idx) == 0:
                return
            t = order[idx, p] if n_targets else None
            f = objective(loss, y[idx], t)
            found, a = apgd_run(model, x0[idx], y[idx], eps, n_iter, f, gen, norm, variant)
            adv[idx[found]] = a[found]
            robust[idx[found]] = False


def check(model, x0, y, adv, robust, eps, norm):
    """The adversarials really are: misclassified, inside the ball and the box."""
    with torch.no_grad():
        p = model(adv).argmax(1)
    d = (adv - x0).flatten(1)
    n = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    broken = ~robust & (model(x0).argmax(1) == y)
    ok = (p[broken] != y[broken]).all() and (n[broken] <= eps * (1 + 1e-5) + 1e-6).all()
    ok = ok and adv.min() >= 0 and adv.max() <= 1
    if not ok:
        raise SystemExit("apgd_torch: an adversarial failed its check")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/fmnist_cnn.onnx")
    ap.add_argument("--n", type=int, default=1000, help="first N test images")
    ap.add_argument("--eps", default="0.1", help="comma-separated budgets")
    ap.add_argument("--norm", default="linf", choices=["linf", "l2"])
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--targets", type=int, default=9, help="APGD-T target classes")
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--attacks", default="apgd-ce,apgd-t",
                    help="each alone on all images: apgd-ce, apgd-dlr, apgd-t; "
                         "'ensemble' = APGD-CE then APGD-T on the survivors")
    ap.add_argument("--variant", default="paper", choices=["paper", "code"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(a.seed)
    model = OnnxTorch(a.model).eval()
    for p in model.w.values():
        p.requires_grad_(False)
    x0, y = load_fmnist(a.n)
    with torch.no_grad():
        clean = torch.cat([model(x0[s:s + a.batch]).argmax(1) for s in range(0, a.n, a.batch)]) == y
    out = []
    for eps in [float(e) for e in a.eps.split(",")]:
        for name in a.attacks.split(","):
            steps = {"apgd-ce": [("ce", 0)], "apgd-dlr": [("dlr", 0)], "apgd-t": [("dlr-t", a.targets)],
                     "ensemble": [("ce", 0), ("dlr-t", a.targets)]}.get(name)
            if steps is None:
                raise SystemExit(f"unknown attack {name}")
            robust = clean.clone()
            Counter.grad_evals = 0
            t0 = time.time()
            after = []
            for s in range(0, a.n, a.batch):
                sl = slice(s, s + a.batch)
                r, adv = robust[sl].clone(), x0[sl].clone()
                for loss, nt in steps:
                    apgd(model, x0[sl], y[sl], r, adv, eps, a.iters, loss, gen, a.norm, a.variant,
                         a.restarts if not nt else 1, nt)
                check(model, x0[sl], y[sl], adv, r, eps, a.norm)
                robust[sl] = r
            t = time.time() - t0
            res = {"attack": name, "eps": eps, "n": a.n, "variant": a.variant, "iters": a.iters,
                   "clean_accuracy": clean.float().mean().item(),
                   "robust_accuracy": robust.float().mean().item(),
                   "grad_evals": Counter.grad_evals, "time_s": t,
                   "grad_evals_per_s": Counter.grad_evals / t if t > 0 else 0.0}
            after.append(res)
            out.append(res)
            print(f"{name:9s} eps {eps:<6g} robust {res['robust_accuracy']:.4f}  clean {res['clean_accuracy']:.4f}  "
                  f"grad evals {Counter.grad_evals}  ({t:.1f} s, {res['grad_evals_per_s']:.0f} evals/s)", flush=True)
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(out, fh, indent=1)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
