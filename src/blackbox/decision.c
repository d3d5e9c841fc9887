/* decision.c — what the decision-based attacks share: label queries
 * ("adversarial or not"), the starting point and its blend towards the
 * original, recording the best point. See decision.h. */
#include "blackbox/decision.h"

#include <math.h>

void gb_dec_init(gb_dec *d, gb_bb *q) {
    memset(d, 0, sizeof *d);
    d->q = q;
}

void gb_dec_free(gb_dec *d) {
    gb_free(d->idx);
    gb_free(d->lab);
    memset(d, 0, sizeof *d);
}

static gb_status reserve(gb_dec *d, int64_t n) {
    if (n <= d->cap) return GB_OK;
    int64_t cap = GB_MAX(n, 2 * d->cap);
    int64_t *idx = gb_realloc(d->idx, (size_t)cap * sizeof *idx);
    if (!idx) return GB_ERR_NOMEM;
    d->idx = idx;
    int *lab = gb_realloc(d->lab, (size_t)cap * sizeof *lab);
    if (!lab) return GB_ERR_NOMEM;
    d->lab = lab;
    d->cap = cap;
    return GB_OK;
}

gb_status gb_dec_ask(gb_dec *d, const float *xb, int64_t n, const int64_t *idx, int64_t one, int *adv,
                     int *lab) {
    if (n <= 0) return GB_OK;
    GB_TRY(reserve(d, n));
    if (!idx) {
        for (int64_t k = 0; k < n; k++) d->idx[k] = one;
        idx = d->idx;
    }
    /* Labels only: the scores pointer stays NULL, so a label-only oracle serves. */
    GB_TRY(gb_bb_query(d->q, xb, n, idx, NULL, d->lab));
    for (int64_t k = 0; k < n; k++) {
        adv[k] = gb_bb_hit(d->q, idx[k], d->lab[k]);
        if (lab) lab[k] = d->lab[k];
    }
    return GB_OK;
}

double gb_dec_dist(gb_norm norm, const float *x, const float *x0, int64_t D) {
    double s = 0;
    for (int64_t k = 0; k < D; k++) {
        double v = fabs((double)x[k] - x0[k]);
        s = norm == GB_NORM_LINF ? fmax(s, v) : s + v * v;
    }
    return norm == GB_NORM_LINF ? s : sqrt(s);
}

void gb_dec_record(gb_dec *d, int64_t i, const float *x, int lab) {
    gb_bb *q = d->q;
    memcpy(q->r->x_adv->data + i * q->D, x, (size_t)q->D * sizeof(float));
    gb_bb_set_answer(q, i, NULL, lab);
}

/* Shrinks [*low, *high] (blend weights of s towards x0, *high adversarial
 * with label *lab) until high - low <= tol, one query per halving. */
static gb_status blend_search(gb_dec *d, int64_t i, const float *s, double tol, double *low, double *high,
                              int *lab, float *mid) {
    const int64_t D = d->q->D;
    const float *x0 = d->q->x0 + i * D;
    while (*high - *low > tol && gb_bb_left(d->q, i) > 0) {
        double m = 0.5 * (*low + *high);
        for (int64_t k = 0; k < D; k++) mid[k] = (float)((1 - m) * x0[k] + m * s[k]);
        int adv, l;
        GB_TRY(gb_dec_ask(d, mid, 1, NULL, i, &adv, &l));
        if (adv) *high = m, *lab = l;
        else *low = m;
    }
    return GB_OK;
}

/* Candidates tried from the batch, and the coarse tolerance of their searches. */
enum { DEC_STARTS = 5 };
#define DEC_COARSE 1e-2

/* Into j[] (at most DEC_STARTS, count returned) the batch images nearest to
 * example i whose clean label (the oracle's answer, already paid for) is a
 * success for i, nearest first. */
static int batch_starts(const gb_bb *q, int64_t i, int64_t *j) {
    double dj[DEC_STARTS];
    int n = 0;
    for (int64_t c = 0; c < q->N; c++) {
        if (c == i || !gb_bb_hit(q, i, q->r->clean_pred[c])) continue;
        double dc = gb_dec_dist(GB_NORM_L2, q->x0 + c * q->D, q->x0 + i * q->D, q->D);
        int k = n < DEC_STARTS ? n++ : DEC_STARTS;
        for (; k > 0 && dj[k - 1] > dc; k--) /* insertion into the sorted list */
            if (k < DEC_STARTS) dj[k] = dj[k - 1], j[k] = j[k - 1];
        if (k < DEC_STARTS) dj[k] = dc, j[k] = c;
    }
    return n;
}

gb_status gb_dec_start(gb_dec *d, int64_t i, gb_rng *rng, double tol, float *out, int *lab, int *found) {
    gb_bb *q = d->q;
    const int64_t D = q->D;
    const float *x0 = q->x0 + i * D, lo = q->a->clip_min, hi = q->a->clip_max;
    float *mid = gb_malloc((size_t)D * sizeof(float));
    if (!mid) return GB_ERR_NOMEM;
    gb_status s = GB_OK;
    *found = 0;
    /* The nearest batch images of a successful class, each blended towards
     * x0 to DEC_COARSE; the closest blend wins and is refined to tol. */
    int64_t j[DEC_STARTS], best = -1;
    int nj = batch_starts(q, i, j);
    double best_d = INFINITY, best_lo = 0, best_hi = 1;
    for (int c = 0; c < nj && !s; c++) {
        const float *xj = q->x0 + j[c] * D;
        double low = 0, high = 1;
        int l = q->r->clean_pred[j[c]];
        s = blend_search(d, i, xj, GB_MAX(tol, DEC_COARSE), &low, &high, &l, mid);
        double dc = high * gb_dec_dist(GB_NORM_L2, xj, x0, D);
        if (!s && dc < best_d) best_d = dc, best = j[c], best_lo = low, best_hi = high, *lab = l;
    }
    if (best >= 0) {
        memcpy(out, q->x0 + best * D, (size_t)D * sizeof(float));
    } else {
        /* None in the batch: uniform noise, as the paper starts. */
        const int64_t tries_max = gb_bb_left(q, i) / 2; /* leave half the budget for the attack */
        int adv = 0;
        for (int64_t tries = 0; !adv && tries < tries_max && !s; tries++) {
            for (int64_t k = 0; k < D; k++) out[k] = lo + (hi - lo) * gb_rng_uniform(rng);
            s = gb_dec_ask(d, out, 1, NULL, i, &adv, lab);
        }
        if (!adv || s) {
            gb_free(mid);
            return s;
        }
    }
    *found = 1;
    if (!s) s = blend_search(d, i, out, tol, &best_lo, &best_hi, lab, mid);
    for (int64_t k = 0; k < D && !s; k++) out[k] = (float)((1 - best_hi) * x0[k] + best_hi * out[k]);
    gb_free(mid);
    return s;
}

void gb_dec_finish(gb_dec *d, int64_t i, gb_norm norm) {
    gb_bb *q = d->q;
    const float *x0 = q->x0 + i * q->D;
    float *xa = q->r->x_adv->data + i * q->D;
    if (!(q->a->eps > 0) || gb_dec_dist(norm, xa, x0, q->D) <= q->a->eps) return;
    /* Not within the budget: no success, as FAB reports it. */
    memcpy(xa, x0, (size_t)q->D * sizeof(float));
    gb_bb_set_answer(q, i, NULL, q->r->clean_pred[i]);
}
