/* square.c — Square Attack (Andriushchenko, Croce, Flammarion & Hein,
 * "Square Attack: a query-efficient black-box adversarial attack via random
 * search", ECCV 2020), L-inf and L2, score-based.
 *
 * Random search: each iteration proposes a change of the current best
 * perturbation inside one random square window (side from the schedule of
 * p, the fraction of the image a square covers) and keeps it if the loss
 * drops. Losses on the oracle's log-probabilities (= logits up to a constant
 * per example): untargeted the margin z_y - max_{j!=y} z_j, targeted the
 * cross-entropy -log p_t (as the authors' AutoAttack version); an example
 * stops at its first success.
 *
 * Follows the authors' reference (attack.py of max-andr/square-attack):
 *  - p schedule: p_init halved at 10, 50, 200, 500, 1000, 2000, 4000, 6000,
 *    8000 of 10000 iterations, rescaled to the query budget (gb_square_p);
 *  - L-inf: vertical-stripe start (one +-eps per channel and column); a
 *    window of side round(sqrt(p * H * W)) clamped to [1, H-1] gets one
 *    +-eps per channel, redrawn until it changes the image;
 *  - L2: a 5x5 grid of "meta pseudo-Gaussian" bumps with random signs
 *    scaled to norm eps; updates move the mass of a second window into the
 *    first, re-normalizing per channel to the budget left (sec. 3.2, Alg. 3).
 * One difference: the reference draws the L2 window and bump once per
 * iteration for the whole batch; here every example draws its own, from
 * its own random stream, so results do not depend on which examples share a
 * batch. The query about the clean image counts, so the authors' n_iters is
 * the budget minus one.
 */
#include "blackbox/blackbox.h"

#include <math.h>

float gb_square_p(float p_init, int64_t it, int64_t n_iters) {
    /* The schedule is written for 10000 iterations. */
    const int64_t i = (int64_t)((double)it / (double)GB_MAX(n_iters, 1) * 10000);
    static const int64_t bounds[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000, 10000};
    for (int k = 0; k < 9; k++)
        if (i > bounds[k] && i <= bounds[k + 1]) return p_init / (float)(2 << k);
    return p_init;
}

/* ---- the L2 bumps (the reference's pseudo_gaussian_pert_rectangles and
 * meta_pseudo_gaussian_pert) ---------------------------------------------- */

/* Nested centred rectangles, weight 1/(k+1)^2 for the k-th: a bump over an
 * (x, y) block of out (row stride ld), normalized to unit L2 norm. */
static void bump_rect(double *out, int ld, int x, int y) {
    for (int i = 0; i < x; i++)
        for (int j = 0; j < y; j++) out[i * ld + j] = 0;
    int ci = x / 2, cj = y / 2; /* x_c - 1 with x_c = x/2 + 1 */
    const int xc = x / 2 + 1, yc = y / 2 + 1;
    for (int k = 0; k < GB_MAX(xc, yc); k++, ci--, cj--) {
        const double v = 1.0 / ((k + 1.0) * (k + 1.0));
        for (int i = GB_MAX(ci, 0); i < GB_MIN(ci + 2 * k + 1, x); i++)
            for (int j = GB_MAX(cj, 0); j < GB_MIN(cj + 2 * k + 1, y); j++) out[i * ld + j] += v;
    }
    double n2 = 0;
    for (int i = 0; i < x; i++)
        for (int j = 0; j < y; j++) n2 += out[i * ld + j] * out[i * ld + j];
    if (n2 > 0)
        for (int i = 0; i < x; i++)
            for (int j = 0; j < y; j++) out[i * ld + j] /= sqrt(n2);
}

/* An s x s bump: the top half positive, the bottom half negative, unit
 * norm, transposed with probability 1/2. */
static void bump_meta(double *d, int s, gb_rng *rng) {
    bump_rect(d, s, s / 2, s);
    bump_rect(d + (s / 2) * s, s, s - s / 2, s);
    double n2 = 0;
    for (int i = 0; i < s * s; i++) {
        if (i >= (s / 2) * s) d[i] = -d[i];
        n2 += d[i] * d[i];
    }
    for (int i = 0; i < s * s && n2 > 0; i++) d[i] /= sqrt(n2);
    if (gb_rng_uniform(rng) > 0.5f)
        for (int i = 0; i < s; i++)
            for (int j = i + 1; j < s; j++) {
                double tmp = d[i * s + j];
                d[i * s + j] = d[j * s + i];
                d[j * s + i] = tmp;
            }
}

/* ---- one attack run --------------------------------------------------------- */

typedef struct square_state {
    gb_bb *q;
    float eps, lo, hi;
    int64_t C, H, W, HW, D;
    gb_rng *rng;        /* (N) one stream per example */
    double *loss;       /* (N) best loss so far */
    double *bump;       /* (H*W) */
    double *delta;      /* (D) */
} square_state;

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Loss to minimize from log-probabilities lp (K) for example i. */
static double square_loss(const gb_bb *q, int64_t i, const float *lp) {
    const int c = q->t ? q->t[i] : q->y[i];
    if (q->t) return -(double)lp[c];
    double other = -INFINITY;
    for (int k = 0; k < q->K; k++)
        if (k != c && lp[k] > other) other = lp[k];
    return (double)lp[c] - other;
}

/* L-inf start: one +-eps per (channel, column), whole columns. */
static void init_linf(square_state *st, int64_t i, float *out) {
    const float *x = st->q->x0 + i * st->D;
    for (int64_t c = 0; c < st->C; c++)
        for (int64_t w = 0; w < st->W; w++) {
            float d = gb_rng_below(&st->rng[i], 2) ? st->eps : -st->eps;
            for (int64_t h = 0; h < st->H; h++) {
                int64_t k = c * st->HW + h * st->W + w;
                out[k] = clampf(x[k] + d, st->lo, st->hi);
            }
        }
}

static int64_t window_side_linf(const square_state *st, float p) {
    int64_t s = (int64_t)lround(sqrt((double)p * (double)st->D / (double)st->C));
    return GB_MIN(GB_MAX(s, 1), GB_MAX(GB_MIN(st->H, st->W) - 1, 1));
}

/* L-inf proposal from the best x_best (D) into out (D). */
static void step_linf(square_state *st, int64_t i, float p, const float *x_best, float *out) {
    const float *x = st->q->x0 + i * st->D;
    gb_rng *rng = &st->rng[i];
    const int64_t s = window_side_linf(st, p);
    const int64_t h0 = gb_rng_below(rng, (uint32_t)GB_MAX(st->H - s, 1));
    const int64_t w0 = gb_rng_below(rng, (uint32_t)GB_MAX(st->W - s, 1));
    float *delta = out; /* deltas = x_best - x, then out = clip(x + deltas) */
    for (int64_t k = 0; k < st->D; k++) delta[k] = x_best[k] - x[k];
    /* Redraw the window's signs until the image changes (the reference's
     * loop); bounded, in case eps is 0 or the box pins every pixel. */
    for (int tries = 0; tries < 100; tries++) {
        int same = 1;
        for (int64_t c = 0; c < st->C && same; c++)
            for (int64_t h = h0; h < h0 + s && same; h++)
                for (int64_t w = w0; w < w0 + s && same; w++) {
                    int64_t k = c * st->HW + h * st->W + w;
                    same = fabsf(clampf(x[k] + delta[k], st->lo, st->hi) - x_best[k]) < 1e-7f;
                }
        if (!same) break;
        for (int64_t c = 0; c < st->C; c++) {
            float d = gb_rng_below(rng, 2) ? st->eps : -st->eps;
            for (int64_t h = h0; h < h0 + s; h++)
                for (int64_t w = w0; w < w0 + s; w++) delta[c * st->HW + h * st->W + w] = d;
        }
    }
    for (int64_t k = 0; k < st->D; k++) out[k] = clampf(x[k] + delta[k], st->lo, st->hi);
}

/* out = clip(x + eps * delta / ||delta||). */
static void scale_to_eps(square_state *st, int64_t i, const double *delta, float *out) {
    const float *x = st->q->x0 + i * st->D;
    double n2 = 0;
    for (int64_t k = 0; k < st->D; k++) n2 += delta[k] * delta[k];
    const double f = n2 > 0 ? st->eps / sqrt(n2) : 0;
    for (int64_t k = 0; k < st->D; k++) out[k] = clampf((float)(x[k] + f * delta[k]), st->lo, st->hi);
}

/* L2 start: a grid of bumps of side H/5 with a random sign per (cell, channel). */
static void init_l2(square_state *st, int64_t i, float *out) {
    double *delta = st->delta;
    memset(delta, 0, (size_t)st->D * sizeof *delta);
    const int64_t s = GB_MAX(st->H / 5, 1);
    const int64_t sp_h = GB_MAX((st->H - s * 5) / 2, 0), sp_w = GB_MAX((st->W - s * 5) / 2, 0);
    for (int64_t ch = sp_h; ch + s <= st->H && ch < sp_h + (st->H / s) * s; ch += s)
        for (int64_t cw = sp_w; cw + s <= st->W && cw < sp_w + (st->W / s) * s; cw += s) {
            bump_meta(st->bump, (int)s, &st->rng[i]);
            for (int64_t c = 0; c < st->C; c++) {
                double sign = gb_rng_below(&st->rng[i], 2) ? 1 : -1;
                for (int64_t a = 0; a < s; a++)
                    for (int64_t b = 0; b < s; b++)
                        delta[c * st->HW + (ch + a) * st->W + cw + b] += sign * st->bump[a * s + b];
            }
        }
    scale_to_eps(st, i, delta, out);
}

/* L2 proposal (the reference's square_attack_l2 iteration). */
static void step_l2(square_state *st, int64_t i, float p, const float *x_best, float *out) {
    const float *x = st->q->x0 + i * st->D;
    gb_rng *rng = &st->rng[i];
    double *delta = st->delta;
    for (int64_t k = 0; k < st->D; k++) delta[k] = (double)x_best[k] - x[k];
    int64_t s = GB_MAX((int64_t)lround(sqrt((double)p * (double)st->D / (double)st->C)), 3);
    if (s % 2 == 0) s++;
    /* Not in the reference (where it would fail): keep the window inside. */
    while (s > 1 && s >= GB_MIN(st->H, st->W)) s -= 2;
    const int64_t h1 = gb_rng_below(rng, (uint32_t)GB_MAX(st->H - s, 1));
    const int64_t w1 = gb_rng_below(rng, (uint32_t)GB_MAX(st->W - s, 1));
    const int64_t h2 = gb_rng_below(rng, (uint32_t)GB_MAX(st->H - s, 1));
    const int64_t w2 = gb_rng_below(rng, (uint32_t)GB_MAX(st->W - s, 1));
#define IN1(h, w) ((h) >= h1 && (h) < h1 + s && (w) >= w1 && (w) < w1 + s)
#define IN2(h, w) ((h) >= h2 && (h) < h2 + s && (w) >= w2 && (w) < w2 + s)
    double image2 = 0;
    for (int64_t k = 0; k < st->D; k++) image2 += delta[k] * delta[k];
    bump_meta(st->bump, (int)s, rng);
    double *nd = st->bump + s * s; /* (s, s) new deltas of one channel */
    for (int64_t c = 0; c < st->C; c++) {
        double *dc = delta + c * st->HW;
        double win1 = 0, win12 = 0;
        for (int64_t h = 0; h < st->H; h++)
            for (int64_t w = 0; w < st->W; w++) {
                double v2 = dc[h * st->W + w] * dc[h * st->W + w];
                if (IN1(h, w)) win1 += v2;
                if (IN1(h, w) || IN2(h, w)) win12 += v2;
            }
        win1 = sqrt(win1);
        const double sign = gb_rng_below(rng, 2) ? 1 : -1;
        double n2 = 0;
        for (int64_t a = 0; a < s; a++)
            for (int64_t b = 0; b < s; b++) {
                double v = st->bump[a * s + b] * sign + dc[(h1 + a) * st->W + w1 + b] / (1e-10 + win1);
                nd[a * s + b] = v;
                n2 += v * v;
            }
        /* Norm for this channel's window: the mass of both windows plus an
         * equal share of what the ball has left. */
        const double target = sqrt(fmax(st->eps * (double)st->eps - image2, 0) / (double)st->C + win12);
        const double f = n2 > 0 ? target / sqrt(n2) : 0;
        for (int64_t a = 0; a < s; a++)
            for (int64_t b = 0; b < s; b++) dc[(h2 + a) * st->W + w2 + b] = 0;
        for (int64_t a = 0; a < s; a++)
            for (int64_t b = 0; b < s; b++) dc[(h1 + a) * st->W + w1 + b] = nd[a * s + b] * f;
    }
#undef IN1
#undef IN2
    scale_to_eps(st, i, delta, out);
}

gb_status gb_bb_square(gb_bb *q) {
    const gb_attack *a = q->a;
    if (a->norm != GB_NORM_LINF && a->norm != GB_NORM_L2)
        return gb_error(GB_ERR_ARG, "square: norm must be linf or l2");
    if (!(a->p_init > 0 && a->p_init <= 1)) return gb_error(GB_ERR_ARG, "square: p_init %g outside (0, 1]", a->p_init);
    if (q->N == 0) return GB_OK;
    square_state st = {0};
    st.q = q;
    st.eps = a->eps, st.lo = a->clip_min, st.hi = a->clip_max;
    st.C = q->C, st.H = q->H, st.W = q->W, st.HW = q->H * q->W, st.D = q->D;
    const int64_t N = q->N, D = q->D, K = q->K;
    st.rng = gb_malloc((size_t)N * sizeof *st.rng);
    st.loss = gb_malloc((size_t)N * sizeof *st.loss);
    st.bump = gb_malloc((size_t)(2 * st.HW + 2) * sizeof *st.bump);
    st.delta = gb_malloc((size_t)D * sizeof *st.delta);
    float *xb = gb_malloc((size_t)(N * D) * sizeof(float));
    float *lp = gb_malloc((size_t)(N * K) * sizeof(float));
    int *lab = gb_malloc((size_t)N * sizeof(int));
    int64_t *idx = gb_malloc((size_t)N * sizeof(int64_t));
    gb_status s = GB_OK;
    if (!st.rng || !st.loss || !st.bump || !st.delta || !xb || !lp || !lab || !idx) s = GB_ERR_NOMEM;
    float *best = q->r->x_adv->data;
    const int64_t n_iters = q->budget - 1; /* the reference's, which counts the start but not the clean query */
    for (int64_t i = 0; i < N && !s; i++) gb_rng_seed(&st.rng[i], a->seed, (uint64_t)i);

    /* it = -1: the start; then the iterations of the reference. */
    for (int64_t it = -1; !s; it++) {
        int64_t n = 0;
        for (int64_t i = 0; i < N; i++)
            if (!gb_bb_hit(q, i, q->r->adv_pred[i]) && gb_bb_left(q, i) > 0) idx[n++] = i;
        if (n == 0) break;
        const float p = it < 0 ? 0 : gb_square_p(a->p_init, it, n_iters);
        for (int64_t j = 0; j < n; j++) {
            const int64_t i = idx[j];
            float *out = xb + j * D;
            if (a->norm == GB_NORM_LINF)
                it < 0 ? init_linf(&st, i, out) : step_linf(&st, i, p, best + i * D, out);
            else
                it < 0 ? init_l2(&st, i, out) : step_l2(&st, i, p, best + i * D, out);
        }
        s = gb_bb_query(q, xb, n, idx, lp, lab);
        for (int64_t j = 0; j < n && !s; j++) {
            const int64_t i = idx[j];
            const double l = square_loss(q, i, lp + j * K);
            /* The start is always taken, as in the reference. */
            if (it < 0 || l < st.loss[i]) {
                st.loss[i] = l;
                memcpy(best + i * D, xb + j * D, (size_t)D * sizeof(float));
                gb_bb_set_answer(q, i, lp + j * K, lab[j]);
            }
        }
    }
    gb_free(st.rng);
    gb_free(st.loss);
    gb_free(st.bump);
    gb_free(st.delta);
    gb_free(xb);
    gb_free(lp);
    gb_free(lab);
    gb_free(idx);
    return s;
}
