/* norms.c — norm balls, projections and ascent steps shared by the
 * gradient attacks, one example (D values) at a time.
 *  - L-inf: step alpha*sign(g) (Goodfellow et al. 2015), projection is a clamp.
 *  - L2: step alpha*g/||g||_2, projection rescales (Madry et al. 2018).
 *  - L1: SLIDE, the sparse L1 descent of Tramer & Boneh 2019 ("Adversarial
 *    training and robustness for multiple perturbations", sec. 4 / alg. 1):
 *    step alpha*e/||e||_1 with e_i = sign(g_i) where |g_i| is at or above the
 *    q-th percentile of |g|; values already at the box bound the step would
 *    push them past get no gradient first. Projection onto the L1 ball after
 *    Duchi et al. 2008 ("Efficient projections onto the l1-ball", fig. 1).
 * Every projection is ball first, then box: clipping to [lo, hi] only moves
 * values towards x0, so ||x - x0|| <= eps survives it. */
#include "attacks.h"

#include <math.h>

static float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

double gb_norm_of(gb_norm norm, const float *v, int64_t D) {
    double s = 0;
    for (int64_t i = 0; i < D; i++) {
        double a = fabs((double)v[i]);
        switch (norm) {
        case GB_NORM_LINF: s = fmax(s, a); break;
        case GB_NORM_L2: s += a * a; break;
        case GB_NORM_L1: s += a; break;
        case GB_NORM_L0: s += a > 0; break;
        }
    }
    return norm == GB_NORM_L2 ? sqrt(s) : s;
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

void gb_project_l1(float *v, int64_t D, float eps, float *u) {
    double l1 = 0;
    for (int64_t i = 0; i < D; i++) l1 += fabs((double)v[i]);
    if (l1 <= eps) return;
    for (int64_t i = 0; i < D; i++) u[i] = fabsf(v[i]);
    qsort(u, (size_t)D, sizeof *u, cmp_desc);
    /* theta = (sum of the rho largest - eps) / rho for the largest rho with
     * u_rho > (sum_{r<=rho} u_r - eps) / rho. */
    double cum = 0, theta = 0;
    for (int64_t r = 0; r < D; r++) {
        cum += u[r];
        double t = (cum - eps) / (double)(r + 1);
        if (u[r] > t) theta = t;
        else break;
    }
    for (int64_t i = 0; i < D; i++) {
        double a = fabs((double)v[i]) - theta;
        v[i] = a > 0 ? (float)copysign(a, v[i]) : 0.0f;
    }
    /* Rounding can leave the sum a hair above eps: shrink until it is not. */
    for (int tries = 0; tries < 8; tries++) {
        double s = 0;
        for (int64_t i = 0; i < D; i++) s += fabs((double)v[i]);
        if (s <= eps) break;
        float f = (float)(eps / s) * (1 - 1e-6f);
        for (int64_t i = 0; i < D; i++) v[i] *= f;
    }
}

void gb_norm_step(gb_norm norm, float *x, const float *g, int64_t D, float alpha, float lo,
                  float hi, float q, float *scratch) {
    switch (norm) {
    case GB_NORM_LINF:
        for (int64_t i = 0; i < D; i++) x[i] += alpha * (float)((g[i] > 0) - (g[i] < 0));
        break;
    case GB_NORM_L2: {
        double n = gb_norm_of(GB_NORM_L2, g, D);
        if (n <= 0) return;
        float f = (float)(alpha / n);
        for (int64_t i = 0; i < D; i++) x[i] += f * g[i];
        break;
    }
    case GB_NORM_L1:
    case GB_NORM_L0: {
        float *a = scratch, *sorted = scratch + D;
        int64_t m = 0;
        for (int64_t i = 0; i < D; i++) {
            int pinned = (x[i] >= hi && g[i] > 0) || (x[i] <= lo && g[i] < 0);
            a[i] = pinned ? 0.0f : fabsf(g[i]);
            if (a[i] > 0) sorted[m++] = a[i];
        }
        if (m == 0) return;
        qsort(sorted, (size_t)m, sizeof *sorted, cmp_desc);
        /* The q-th percentile of all D magnitudes (zeros included). */
        int64_t rank = (int64_t)floor((1.0 - q) * (double)D);
        float thr = sorted[GB_MIN(GB_MAX(rank, 0), m - 1)];
        int64_t cnt = 0;
        for (int64_t i = 0; i < D; i++) cnt += a[i] >= thr && a[i] > 0;
        float f = alpha / (float)cnt;
        for (int64_t i = 0; i < D; i++)
            if (a[i] >= thr && a[i] > 0) x[i] += f * (float)((g[i] > 0) - (g[i] < 0));
        break;
    }
    }
}

/* x := clip(x0 + f*d) with f shrunk until the float result is inside the
 * ball: x0 + f*d rounds, and the bound is promised exactly. */
static void place_inside(gb_norm norm, float *x, const float *x0, const float *d, int64_t D,
                         float eps, float lo, float hi, float f) {
    for (int tries = 0; tries < 30; tries++) {
        double s = 0;
        for (int64_t i = 0; i < D; i++) {
            x[i] = clampf(x0[i] + f * d[i], lo, hi);
            double e = (double)x[i] - x0[i];
            s += norm == GB_NORM_L2 ? e * e : fabs(e);
        }
        if ((norm == GB_NORM_L2 ? sqrt(s) : s) <= eps) return;
        f *= 1 - 1e-6f * (float)(1 << GB_MIN(tries, 20));
    }
}

void gb_norm_project(gb_norm norm, float *x, const float *x0, int64_t D, float eps, float lo,
                     float hi, float *scratch) {
    float *d = scratch;
    switch (norm) {
    case GB_NORM_LINF:
        for (int64_t i = 0; i < D; i++) {
            float v = clampf(x[i], x0[i] - eps, x0[i] + eps);
            /* x0 +- eps rounds: make |v - x0| <= eps hold exactly. */
            while ((double)v - x0[i] > eps || (double)x0[i] - v > eps) v = nextafterf(v, x0[i]);
            x[i] = clampf(v, lo, hi);
        }
        break;
    case GB_NORM_L2: {
        double s = 0;
        for (int64_t i = 0; i < D; i++) {
            d[i] = x[i] - x0[i];
            s += (double)d[i] * d[i];
        }
        double n = sqrt(s);
        place_inside(norm, x, x0, d, D, eps, lo, hi, n > eps ? (float)(eps / n) : 1.0f);
        break;
    }
    case GB_NORM_L1:
    case GB_NORM_L0: {
        for (int64_t i = 0; i < D; i++) d[i] = x[i] - x0[i];
        /* gb_project_l1 sorts in its own scratch: x is free for that. */
        gb_project_l1(d, D, eps, x);
        place_inside(norm, x, x0, d, D, eps, lo, hi, 1.0f);
        break;
    }
    }
}

void gb_norm_random_start(gb_norm norm, float *x, const float *x0, int64_t D, float eps, float lo,
                          float hi, gb_rng *rng) {
    if (norm == GB_NORM_LINF) {
        for (int64_t i = 0; i < D; i++) x[i] = clampf(x0[i] + eps * (2 * gb_rng_uniform(rng) - 1), lo, hi);
        return;
    }
    /* Uniform in the L2 ball (Gaussian direction, radius eps*u^(1/D)), or a
     * Laplace direction scaled the same way for L1. */
    double s = 0;
    for (int64_t i = 0; i < D; i++) {
        float v;
        if (norm == GB_NORM_L2) v = gb_rng_normal(rng);
        else {
            float u = gb_rng_uniform(rng);
            v = -logf(1 - u) * (gb_rng_uniform(rng) < 0.5f ? -1.0f : 1.0f);
        }
        x[i] = v;
        s += norm == GB_NORM_L2 ? (double)v * v : fabs((double)v);
    }
    double n = norm == GB_NORM_L2 ? sqrt(s) : s;
    double r = eps * pow(gb_rng_uniform(rng), 1.0 / (double)D) * (1 - 1e-6);
    float f = n > 0 ? (float)(r / n) : 0.0f;
    for (int64_t i = 0; i < D; i++) x[i] = clampf(x0[i] + f * x[i], lo, hi);
}
