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

/* A batch image the oracle labels as example i's target, or -1. */
static int64_t target_image(const gb_bb *q, int64_t i) {
    if (!q->t) return -1;
    for (int64_t j = 0; j < q->N; j++)
        if (j != i && q->r->clean_pred[j] == q->t[i]) return j;
    return -1;
}

gb_status gb_dec_start(gb_dec *d, int64_t i, gb_rng *rng, float *out, int *lab, int *found) {
    gb_bb *q = d->q;
    const int64_t D = q->D;
    const float *x0 = q->x0 + i * D, lo = q->a->clip_min, hi = q->a->clip_max;
    int adv = 0;
    *found = 0;
    int64_t j = target_image(q, i);
    if (j >= 0) {
        /* Its label is the oracle's answer on the clean batch: no new query. */
        memcpy(out, q->x0 + j * D, (size_t)D * sizeof(float));
        *lab = q->t[i];
        adv = 1;
    }
    const int64_t tries_max = gb_bb_left(q, i) / 2; /* leave half the budget for the attack */
    for (int64_t tries = 0; !adv && tries < tries_max; tries++) {
        for (int64_t k = 0; k < D; k++) out[k] = lo + (hi - lo) * gb_rng_uniform(rng);
        GB_TRY(gb_dec_ask(d, out, 1, NULL, i, &adv, lab));
    }
    if (!adv) return GB_OK;
    *found = 1;
    /* Binary search on the blend weight of the starting image. */
    float *mid = gb_malloc((size_t)D * sizeof(float));
    if (!mid) return GB_ERR_NOMEM;
    double low = 0, high = 1;
    gb_status s = GB_OK;
    while (high - low > 1e-3 && gb_bb_left(q, i) > 0) {
        double m = 0.5 * (low + high);
        for (int64_t k = 0; k < D; k++) mid[k] = (float)((1 - m) * x0[k] + m * out[k]);
        int l;
        if ((s = gb_dec_ask(d, mid, 1, NULL, i, &adv, &l))) break;
        if (adv) high = m, *lab = l;
        else low = m;
    }
    for (int64_t k = 0; k < D && !s; k++) out[k] = (float)((1 - high) * x0[k] + high * out[k]);
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
