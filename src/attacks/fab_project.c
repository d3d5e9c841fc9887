/* fab_project.c — the box-constrained projection onto a hyperplane that
 * FAB takes twice per step (Croce & Hein 2020, "Minimally distorted
 * adversarial examples with a fast adaptive boundary attack", eq. 5):
 *     min ||d||_p  s.t.  w.d = c,  lo - t <= d <= hi - t,   c = b - w.t.
 * With c > 0 (else flip the roles), coordinate i only ever moves in the
 * direction of sign(w_i) (moving against it costs norm and loses ground),
 * by e_i in [0, cap_i], cap_i the room to the box bound on that side. With
 * a_i = |w_i| the problem is min ||e||_p s.t. sum a_i e_i = |c|:
 *  - L1: a fractional knapsack: fill the coordinates by decreasing a_i;
 *  - L2: KKT gives e_i = min(lambda a_i, cap_i); the sum is piecewise
 *    linear and increasing in lambda with kinks at cap_i / a_i;
 *  - L-inf: e_i = min(lambda, cap_i), kinks at cap_i;
 * so one sort of the kinks and a walk over them find lambda exactly (the
 * authors' code does the same walk by bisection, batched on the GPU). */
#include "attacks/fab.h"

#include <math.h>

static int cmp_key(const void *x, const void *y) {
    double a = ((const gb_fab_item *)x)->key, b = ((const gb_fab_item *)y)->key;
    return (a > b) - (a < b);
}

int gb_fab_project(gb_norm norm, const float *t, const float *w, double b, int64_t D, float lo,
                   float hi, float *d, gb_fab_item *items) {
    double wt = 0;
    for (int64_t i = 0; i < D; i++) wt += (double)w[i] * t[i];
    const double c = b - wt, C = fabs(c);
    memset(d, 0, (size_t)D * sizeof *d);
    if (c == 0) return 1;
    if (!isfinite(c)) return 0;
    int64_t m = 0;
    double total = 0;
    for (int64_t i = 0; i < D; i++) {
        if (w[i] == 0) continue;
        const int up = (w[i] > 0) == (c > 0);
        const double cap = up ? (double)hi - t[i] : (double)t[i] - lo, a = fabs((double)w[i]);
        if (!(cap > 0)) continue;
        gb_fab_item *it = &items[m++];
        it->a = a;
        it->cap = cap;
        it->i = i;
        it->key = norm == GB_NORM_L1 ? -a : (norm == GB_NORM_L2 ? cap / a : cap);
        total += a * cap;
    }
    if (total <= C) {
        /* The plane lies beyond the box (or touches its corner): go all the way. */
        for (int64_t k = 0; k < m; k++) {
            const int64_t i = items[k].i;
            d[i] = (float)((w[i] > 0) == (c > 0) ? items[k].cap : -items[k].cap);
        }
        return total >= C;
    }
    qsort(items, (size_t)m, sizeof *items, cmp_key);
    if (norm == GB_NORM_L1) {
        double rem = C;
        for (int64_t k = 0; k < m && rem > 0; k++) {
            gb_fab_item *it = &items[k];
            const double e = it->a * it->cap < rem ? it->cap : rem / it->a;
            rem -= it->a * e;
            d[it->i] = (float)((w[it->i] > 0) == (c > 0) ? e : -e);
        }
        return 1;
    }
    /* rest_k: the slope of the sum once the kinks before k are passed. */
    double rest = 0;
    for (int64_t k = m - 1; k >= 0; k--) {
        rest += norm == GB_NORM_L2 ? items[k].a * items[k].a : items[k].a;
        items[k].rest = rest;
    }
    double sat = 0, lambda = 0;
    for (int64_t k = 0; k < m; k++) {
        /* The sum at lambda = key_k: the kinks before k are saturated. */
        if (sat + items[k].key * items[k].rest >= C) {
            lambda = (C - sat) / items[k].rest;
            break;
        }
        sat += items[k].a * items[k].cap;
    }
    for (int64_t k = 0; k < m; k++) {
        const gb_fab_item *it = &items[k];
        const double e = fmin(norm == GB_NORM_L2 ? lambda * it->a : lambda, it->cap);
        d[it->i] = (float)((w[it->i] > 0) == (c > 0) ? e : -e);
    }
    return 1;
}
