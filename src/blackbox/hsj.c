/* hsj.c — HopSkipJump (Chen, Jordan & Wainwright 2020, "HopSkipJumpAttack:
 * a query-efficient decision-based attack", alg. 1-2 and sec. 4), L2 and
 * L-inf, with the authors' defaults (their hsja.py: gamma = 1, 100 initial
 * gradient samples growing as 100*sqrt(t), at most 10^4, geometric step
 * search). Per example, until its query budget is spent:
 *   1. start at an adversarial image blended towards x0 (decision.c: the
 *      nearest batch image of another class, else the paper's uniform
 *      noise), binary-searched to within the threshold theta = gamma /
 *      d^{3/2} (L2, directly in decision.c's blend search) or gamma / d^2
 *      (L-inf, a second search in the clip projection) of the boundary;
 *   2. estimate the boundary's normal at x_t by Monte-Carlo: n unit random
 *      directions u_b (Gaussian for L2, uniform cube for L-inf) at radius
 *      delta_t, phi_b = +1 if x_t + delta_t*u_b is adversarial else -1, and
 *      g = mean((phi_b - mean phi) u_b) (eq. 16, the baseline-corrected
 *      estimate), normalized; delta_1 = 0.1*(hi - lo), then
 *      delta_t = sqrt(d)*theta*dist_{t-1} (L2) or d*theta*dist_{t-1} (L-inf);
 *   3. step along g (L2) or sign(g) (L-inf) by xi = dist_t / sqrt(t),
 *      halved until the point is adversarial (geometric progression);
 *   4. binary-search back to the boundary, and repeat. Each gradient
 *      estimate leaves its step and binary search their queries (the
 *      paper's iterations have no budget; an estimate the budget leaves no
 *      step for would be wasted), so the last one is smaller.
 * Every point kept as the example's result was answered "adversarial" by the
 * oracle; only labels are asked for. */
#include "blackbox/decision.h"

#include <math.h>

typedef struct hsj {
    gb_dec dec;
    gb_bb *q;
    int64_t i, D;
    gb_norm norm;
    double theta;
    const float *x0;
    float *mid;  /* (D) scratch */
    float *rv;   /* (chunk, D) random directions */
    double *acc; /* (2, D) sums of phi*u and of u */
    int lab;     /* label of the current point */
} hsj;

enum { HSJ_CHUNK = 256 };

/* x := x0 + alpha-projection of p: the blend (1-a) x0 + a p (L2) or the
 * clip of p to the L-inf ball of radius a around x0. */
static void project(const hsj *h, const float *p, double a, float *x) {
    for (int64_t k = 0; k < h->D; k++) {
        if (h->norm == GB_NORM_LINF) {
            double lo = h->x0[k] - a, hi = h->x0[k] + a;
            x[k] = (float)fmin(fmax(p[k], lo), hi);
        } else {
            x[k] = (float)((1 - a) * h->x0[k] + a * p[k]);
        }
    }
}

/* Moves the adversarial cur towards x0 until within theta of the boundary
 * (the authors' binary_search_batch on one point). *dist_before gets cur's
 * distance before the search (their dist_post_update, which sets delta). */
static gb_status binary_search(hsj *h, float *cur, double *dist_before) {
    gb_bb *q = h->q;
    double d0 = gb_dec_dist(h->norm, cur, h->x0, h->D), low = 0, high, thr;
    if (h->norm == GB_NORM_LINF) high = d0, thr = fmin(d0 * h->theta, h->theta);
    else high = 1, thr = h->theta;
    *dist_before = d0;
    while ((high - low) / thr > 1 && gb_bb_left(q, h->i) > 0) {
        double m = 0.5 * (low + high);
        int adv, l;
        project(h, cur, m, h->mid);
        GB_TRY(gb_dec_ask(&h->dec, h->mid, 1, NULL, h->i, &adv, &l));
        if (adv) high = m, h->lab = l;
        else low = m;
    }
    project(h, cur, high, h->mid);
    memcpy(cur, h->mid, (size_t)h->D * sizeof(float));
    return GB_OK;
}

/* Unit-norm estimate of the direction towards the adversarial side at cur
 * from n label queries at radius delta, into g (D). */
static gb_status estimate_gradient(hsj *h, const float *cur, int64_t n, double delta, gb_rng *rng,
                                   float *g) {
    const int64_t D = h->D;
    const float lo = h->q->a->clip_min, hi = h->q->a->clip_max;
    double *sum_fu = h->acc, *sum_u = h->acc + D;
    memset(h->acc, 0, (size_t)(2 * D) * sizeof(double));
    int64_t npos = 0;
    int adv[HSJ_CHUNK];
    for (int64_t b0 = 0; b0 < n; b0 += HSJ_CHUNK) {
        int64_t nb = GB_MIN((int64_t)HSJ_CHUNK, n - b0);
        for (int64_t b = 0; b < nb; b++) {
            float *u = h->rv + b * D;
            double ss = 0;
            for (int64_t k = 0; k < D; k++) {
                u[k] = h->norm == GB_NORM_LINF ? 2 * gb_rng_uniform(rng) - 1 : gb_rng_normal(rng);
                ss += (double)u[k] * u[k];
            }
            double f = ss > 0 ? 1 / sqrt(ss) : 0;
            for (int64_t k = 0; k < D; k++) {
                /* The clipped point, and the direction it really lies in. */
                float p = cur[k] + (float)(delta * f * u[k]);
                p = p < lo ? lo : (p > hi ? hi : p);
                u[k] = p;
            }
        }
        GB_TRY(gb_dec_ask(&h->dec, h->rv, nb, NULL, h->i, adv, NULL));
        for (int64_t b = 0; b < nb; b++) {
            const float *p = h->rv + b * D;
            double phi = adv[b] ? 1 : -1;
            npos += adv[b];
            for (int64_t k = 0; k < D; k++) {
                double u = ((double)p[k] - cur[k]) / delta;
                sum_fu[k] += phi * u;
                sum_u[k] += u;
            }
        }
    }
    /* mean((phi - mean phi) u) = mean(phi u) - mean(phi) mean(u); when every
     * phi agrees the authors use mean(phi u) itself (= +-mean(u)). */
    double mphi = (2.0 * npos - n) / n, nn = 0;
    int mixed = npos > 0 && npos < n;
    for (int64_t k = 0; k < D; k++) {
        double v = sum_fu[k] / n - (mixed ? mphi * sum_u[k] / n : 0);
        g[k] = (float)v;
        nn += v * v;
    }
    nn = sqrt(nn);
    for (int64_t k = 0; k < D && nn > 0; k++) g[k] = (float)(g[k] / nn);
    return GB_OK;
}

static gb_status hsj_one(hsj *h, gb_rng *rng, float *cur, float *g, float *nxt) {
    gb_bb *q = h->q;
    const gb_attack *a = q->a;
    const int64_t D = h->D, i = h->i;
    const float lo = a->clip_min, hi = a->clip_max;
    int found;
    const int linf = h->norm == GB_NORM_LINF;
    GB_TRY(gb_dec_start(&h->dec, i, rng, linf ? 1e-3 : h->theta, cur, &h->lab, &found));
    if (!found) return GB_OK;
    double dist_post = 0; /* only read from t = 2 on */
    if (linf) GB_TRY(binary_search(h, cur, &dist_post));
    double dist = gb_dec_dist(h->norm, cur, h->x0, D), best = dist;
    gb_dec_record(&h->dec, i, cur, h->lab);
    const double d = (double)D;
    for (int64_t t = 1; gb_bb_left(q, i) > 0; t++) {
        if (a->early_stop && a->eps > 0 && dist <= a->eps) break;
        double delta = t == 1 ? 0.1 * (hi - lo) : (linf ? d : sqrt(d)) * h->theta * dist_post;
        int64_t n = (int64_t)(100 * sqrt((double)t));
        /* One query at least for the step, and the binary search's count
         * (L-inf: from dist, the next point's being unknown yet). */
        int64_t keep = 1 + (int64_t)ceil(log2((linf ? fmax(1.0, dist) : 1.0) / h->theta));
        n = GB_MIN(GB_MIN(n, (int64_t)10000), gb_bb_left(q, i) - keep);
        if (n < 1) break;
        GB_TRY(estimate_gradient(h, cur, n, delta, rng, g));
        if (h->norm == GB_NORM_LINF)
            for (int64_t k = 0; k < D; k++) g[k] = (float)((g[k] > 0) - (g[k] < 0));
        /* Geometric step-size search from dist / sqrt(t). */
        double xi = dist / sqrt((double)t);
        int adv = 0, l = h->lab;
        while (!adv && gb_bb_left(q, i) > 0 && xi > 0) {
            for (int64_t k = 0; k < D; k++) {
                float p = cur[k] + (float)xi * g[k];
                nxt[k] = p < lo ? lo : (p > hi ? hi : p);
            }
            GB_TRY(gb_dec_ask(&h->dec, nxt, 1, NULL, i, &adv, &l));
            if (!adv) xi /= 2;
        }
        if (!adv) break; /* out of queries: cur stays the result */
        memcpy(cur, nxt, (size_t)D * sizeof(float));
        h->lab = l;
        GB_TRY(binary_search(h, cur, &dist_post));
        double nd = gb_dec_dist(h->norm, cur, h->x0, D);
        /* Keep the closest point seen (a step can, rarely, land farther). */
        if (nd <= best) gb_dec_record(&h->dec, i, cur, h->lab), best = nd;
        dist = nd;
    }
    return GB_OK;
}

gb_status gb_bb_hsj(gb_bb *q) {
    const gb_attack *a = q->a;
    if (a->norm != GB_NORM_L2 && a->norm != GB_NORM_LINF)
        return gb_error(GB_ERR_ARG, "hsj: norm must be l2 or linf");
    const int64_t D = q->D;
    hsj h = {0};
    h.q = q;
    h.D = D;
    h.norm = a->norm;
    /* gamma = 1 (the authors' default). */
    h.theta = a->norm == GB_NORM_LINF ? 1.0 / ((double)D * D) : 1.0 / (sqrt((double)D) * D);
    gb_dec_init(&h.dec, q);
    h.mid = gb_malloc((size_t)D * sizeof(float));
    h.rv = gb_malloc((size_t)(HSJ_CHUNK * D) * sizeof(float));
    h.acc = gb_malloc((size_t)(2 * D) * sizeof(double));
    float *cur = gb_malloc((size_t)D * sizeof(float)), *g = gb_malloc((size_t)D * sizeof(float));
    float *nxt = gb_malloc((size_t)D * sizeof(float));
    gb_status s = h.mid && h.rv && h.acc && cur && g && nxt ? GB_OK : GB_ERR_NOMEM;
    for (int64_t i = 0; i < q->N && !s; i++) {
        /* Already misclassified (or at its target): nothing to do. */
        if (gb_bb_hit(q, i, q->r->clean_pred[i])) continue;
        gb_rng rng; /* one stream per example: results do not depend on the batch */
        gb_rng_seed(&rng, a->seed, 1000 + (uint64_t)i);
        h.i = i;
        h.x0 = q->x0 + i * D;
        s = hsj_one(&h, &rng, cur, g, nxt);
        if (!s || s == GB_ERR_BUDGET) gb_dec_finish(&h.dec, i, h.norm);
    }
    gb_free(h.mid);
    gb_free(h.rv);
    gb_free(h.acc);
    gb_free(cur);
    gb_free(g);
    gb_free(nxt);
    gb_dec_free(&h.dec);
    return s;
}

gb_status gb_attack_hsj(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                        const int *target, gb_attack_result *r) {
    return gb_bb_on_model(a, m, x, y, target, r);
}
