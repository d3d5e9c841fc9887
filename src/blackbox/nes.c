/* nes.c — NES gradient estimation + PGD (Ilyas, Engstrom, Athalye & Lin,
 * "Black-box Adversarial Attacks with Limited Queries and Information",
 * ICML 2018, Alg. 1 and sec. 2.2).
 *
 * The gradient of the objective F at x is estimated from antithetic
 * Gaussian probes (natural evolution strategies with a Gaussian search
 * distribution):
 *     g = 1 / (n sigma) * sum_{i <= n/2} (F(x + sigma u_i) - F(x - sigma u_i)) u_i,
 *     u_i ~ N(0, I),
 * n = a->samples probes (antithetic pairs halve the variance from the
 * even part of F). Then an L-inf PGD step x <- Pi_{B(x0, eps) ∩ box}(x +
 * step_size * sign(g)). F is the cross-entropy of the label (untargeted,
 * ascended) or minus that of the target, on the oracle's log-probabilities.
 * Probes are clipped to the box, since the oracle only sees valid images.
 * Each iteration costs n + 1 queries (the probes and the new point).
 */
#include "blackbox/blackbox.h"

#include <math.h>

static double nes_objective(const gb_bb *q, int64_t i, const float *lp) {
    return q->t ? (double)lp[q->t[i]] : -(double)lp[q->y[i]];
}

gb_status gb_nes_gradient(gb_bb *q, const float *x, int64_t n, const int64_t *idx, gb_rng *rngs,
                          float *grad) {
    const gb_attack *a = q->a;
    const int64_t D = q->D, K = q->K, half = GB_MAX(a->samples / 2, 1), P = 2 * half;
    const float sigma = a->sigma, lo = a->clip_min, hi = a->clip_max;
    float *u = gb_malloc((size_t)(half * D) * sizeof *u);
    float *probe = gb_malloc((size_t)(P * D) * sizeof *probe);
    float *lp = gb_malloc((size_t)(P * K) * sizeof *lp);
    int64_t *ex = gb_malloc((size_t)P * sizeof *ex);
    gb_status s = u && probe && lp && ex ? GB_OK : GB_ERR_NOMEM;
    /* One example at a time: its probes are one batch of P images. */
    for (int64_t j = 0; j < n && !s; j++) {
        const int64_t i = idx[j];
        const float *xj = x + j * D;
        for (int64_t p = 0; p < half; p++)
            for (int64_t k = 0; k < D; k++) {
                const float e = gb_rng_normal(&rngs[i]);
                u[p * D + k] = e;
                const float plus = xj[k] + sigma * e, minus = xj[k] - sigma * e;
                probe[(2 * p) * D + k] = plus < lo ? lo : plus > hi ? hi : plus;
                probe[(2 * p + 1) * D + k] = minus < lo ? lo : minus > hi ? hi : minus;
            }
        for (int64_t p = 0; p < P; p++) ex[p] = i;
        s = gb_bb_query(q, probe, P, ex, lp, NULL);
        float *g = grad + j * D;
        memset(g, 0, (size_t)D * sizeof *g);
        for (int64_t p = 0; p < half && !s; p++) {
            const double w = (nes_objective(q, i, lp + (2 * p) * K) - nes_objective(q, i, lp + (2 * p + 1) * K)) /
                             ((double)P * sigma);
            for (int64_t k = 0; k < D; k++) g[k] += (float)(w * u[p * D + k]);
        }
    }
    gb_free(u);
    gb_free(probe);
    gb_free(lp);
    gb_free(ex);
    return s;
}

gb_status gb_bb_nes(gb_bb *q) {
    const gb_attack *a = q->a;
    if (a->norm != GB_NORM_LINF) return gb_error(GB_ERR_ARG, "nes: norm must be linf");
    if (!(a->sigma > 0)) return gb_error(GB_ERR_ARG, "nes: sigma must be positive");
    if (a->samples < 2) return gb_error(GB_ERR_ARG, "nes: samples must be at least 2 (one antithetic pair)");
    if (!(a->step_size > 0)) return gb_error(GB_ERR_ARG, "nes: step size must be positive");
    const int64_t N = q->N, D = q->D, K = q->K;
    if (N == 0) return GB_OK;
    const int64_t cost = 2 * GB_MAX(a->samples / 2, 1) + 1;
    const float eps = a->eps, lo = a->clip_min, hi = a->clip_max, lr = a->step_size;
    gb_rng *rngs = gb_malloc((size_t)N * sizeof *rngs);
    float *xs = gb_malloc((size_t)(N * D) * sizeof *xs);
    float *grad = gb_malloc((size_t)(N * D) * sizeof *grad);
    float *lp = gb_malloc((size_t)(N * K) * sizeof *lp);
    int *lab = gb_malloc((size_t)N * sizeof *lab);
    int64_t *idx = gb_malloc((size_t)N * sizeof *idx);
    gb_status s = rngs && xs && grad && lp && lab && idx ? GB_OK : GB_ERR_NOMEM;
    for (int64_t i = 0; i < N && !s; i++) gb_rng_seed(&rngs[i], a->seed, (uint64_t)i);
    float *cur = q->r->x_adv->data;
    while (!s) {
        int64_t n = 0;
        for (int64_t i = 0; i < N; i++)
            if (!gb_bb_hit(q, i, q->r->adv_pred[i]) && gb_bb_left(q, i) >= cost) idx[n++] = i;
        if (n == 0) break;
        for (int64_t j = 0; j < n; j++) memcpy(xs + j * D, cur + idx[j] * D, (size_t)D * sizeof(float));
        s = gb_nes_gradient(q, xs, n, idx, rngs, grad);
        for (int64_t j = 0; j < n && !s; j++) {
            const float *x0 = q->x0 + idx[j] * D;
            for (int64_t k = 0; k < D; k++) {
                const float g = grad[j * D + k];
                float v = xs[j * D + k] + (g > 0 ? lr : g < 0 ? -lr : 0);
                v = fminf(fmaxf(v, x0[k] - eps), x0[k] + eps);
                xs[j * D + k] = v < lo ? lo : v > hi ? hi : v;
            }
        }
        if (!s) s = gb_bb_query(q, xs, n, idx, lp, lab);
        for (int64_t j = 0; j < n && !s; j++) {
            memcpy(cur + idx[j] * D, xs + j * D, (size_t)D * sizeof(float));
            gb_bb_set_answer(q, idx[j], lp + j * K, lab[j]);
        }
    }
    gb_free(rngs);
    gb_free(xs);
    gb_free(grad);
    gb_free(lp);
    gb_free(lab);
    gb_free(idx);
    return s;
}
