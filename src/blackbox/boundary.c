/* boundary.c — the Boundary Attack (Brendel, Rauber & Bethge 2018,
 * "Decision-based adversarial attacks", sec. 3 and alg. 1), L2, with the
 * step rules of the authors' foolbox implementation (BoundaryAttack, v3):
 * starting from an adversarial point (decision.c: the nearest batch image of
 * a successful class, else noise, blended towards the original), every step of
 * example i, at distance r = ||x - x0||:
 *   1. orthogonal step: eta ~ N(0, I), made orthogonal to x - x0 and scaled
 *      to length s_sph * r, then the point x0 + (x - x0 + eta)/sqrt(1 +
 *      s_sph^2), back on the sphere of radius r around x0 (clipped to the box);
 *   2. step towards the original by s_src * r (corrected for the clipping's
 *      change of radius), clipped: the candidate;
 *   3. the candidate replaces x when the oracle calls it adversarial.
 * Step sizes adapt to the boundary's local geometry (paper, sec. 3.3): every
 * 10th step the spherical point is queried too; over the last 100 such
 * checks, > 50% adversarial multiplies s_sph by 1.5, < 20% divides it; over
 * the last 30 candidates checked at those steps, > 25% adversarial
 * multiplies s_src by 1.5, < 10% divides it. Both start at 0.01; an example
 * stops when s_src < 1e-7 (converged) or its queries are spent. All examples
 * step in lockstep so each step is one batched label query. */
#include "blackbox/decision.h"

#include <math.h>

enum { SPH_LEN = 100, SRC_LEN = 30, STATS_EVERY = 10 };
#define STEP_ADAPT 1.5
#define STEP_INIT 0.01
#define SRC_CONVERGED 1e-7

/* A fixed-length queue of outcomes (the last `len` ones). */
typedef struct outcome_queue {
    unsigned char v[SPH_LEN];
    int len, count, head;
} outcome_queue;

static void queue_push(outcome_queue *o, int v) {
    o->v[o->head] = (unsigned char)v;
    o->head = (o->head + 1) % o->len;
    if (o->count < o->len) o->count++;
}

static double queue_mean(const outcome_queue *o) {
    int s = 0;
    for (int k = 0; k < o->count; k++) s += o->v[k];
    return o->count ? (double)s / o->count : 0;
}

typedef struct boundary_ex {
    double sph, src; /* spherical and source step sizes */
    outcome_queue sph_stats, src_stats;
    int active, lab;
    gb_rng rng;
} boundary_ex;

static void clip(float *x, int64_t D, float lo, float hi) {
    for (int64_t k = 0; k < D; k++) x[k] = x[k] < lo ? lo : (x[k] > hi ? hi : x[k]);
}

/* The spherical point sph (D) and the candidate cand (D) from x (foolbox's
 * draw_proposals, one example). */
static void propose(const boundary_ex *e, gb_rng *rng, const float *x0, const float *x, int64_t D, float lo,
                    float hi, float *sph, float *cand) {
    double r2 = 0, dot = 0, e2 = 0;
    for (int64_t k = 0; k < D; k++) {
        double v = (double)x[k] - x0[k];
        r2 += v * v;
    }
    const double r = sqrt(r2);
    for (int64_t k = 0; k < D; k++) {
        sph[k] = gb_rng_normal(rng);
        dot += sph[k] * ((double)x[k] - x0[k]);
    }
    for (int64_t k = 0; k < D; k++) { /* orthogonal to x - x0 */
        double v = sph[k] - dot / (r2 > 0 ? r2 : 1) * ((double)x[k] - x0[k]);
        sph[k] = (float)v;
        e2 += v * v;
    }
    const double scale = e2 > 0 ? e->sph * r / sqrt(e2) : 0, back = 1 / sqrt(e->sph * e->sph + 1);
    for (int64_t k = 0; k < D; k++)
        sph[k] = (float)(x0[k] + back * ((double)x[k] - x0[k] + scale * sph[k]));
    clip(sph, D, lo, hi);
    double n2 = 0;
    for (int64_t k = 0; k < D; k++) {
        double v = (double)x0[k] - sph[k];
        n2 += v * v;
    }
    const double n = sqrt(n2);
    double len = e->src * r + n - r; /* on the sphere exactly n = r */
    len = len > 0 && n > 0 ? len / n : 0;
    for (int64_t k = 0; k < D; k++) cand[k] = (float)(sph[k] + len * ((double)x0[k] - sph[k]));
    clip(cand, D, lo, hi);
}

static void adapt(outcome_queue *o, double *step, double up, double down) {
    if (o->count < o->len) return;
    double p = queue_mean(o);
    if (p > up) *step *= STEP_ADAPT;
    else if (p < down) *step /= STEP_ADAPT;
    else return;
    o->count = o->head = 0; /* start collecting afresh at the new size */
}

gb_status gb_bb_boundary(gb_bb *q) {
    const gb_attack *a = q->a;
    if (a->norm != GB_NORM_L2) return gb_error(GB_ERR_ARG, "boundary: norm must be l2");
    const int64_t N = q->N, D = q->D;
    const float lo = a->clip_min, hi = a->clip_max;
    gb_dec dec;
    gb_dec_init(&dec, q);
    boundary_ex *ex = gb_calloc((size_t)GB_MAX(N, 1), sizeof *ex);
    float *cur = gb_malloc((size_t)GB_MAX(N * D, 1) * sizeof(float));
    float *cand = gb_malloc((size_t)GB_MAX(N * D, 1) * sizeof(float));
    float *sph = gb_malloc((size_t)GB_MAX(N * D, 1) * sizeof(float));
    int64_t *who = gb_malloc((size_t)GB_MAX(N, 1) * sizeof(int64_t));
    int *adv = gb_malloc((size_t)GB_MAX(N, 1) * sizeof(int)), *lab = gb_malloc((size_t)GB_MAX(N, 1) * sizeof(int));
    gb_status s = ex && cur && cand && sph && who && adv && lab ? GB_OK : GB_ERR_NOMEM;
    for (int64_t i = 0; i < N && !s; i++) {
        boundary_ex *e = &ex[i];
        gb_rng_seed(&e->rng, a->seed, 2000 + (uint64_t)i);
        e->sph = e->src = STEP_INIT;
        e->sph_stats.len = SPH_LEN;
        e->src_stats.len = SRC_LEN;
        if (gb_bb_hit(q, i, q->r->clean_pred[i])) continue;
        s = gb_dec_start(&dec, i, &e->rng, 1e-3, cur + i * D, &e->lab, &e->active);
        if (!s && e->active) gb_dec_record(&dec, i, cur + i * D, e->lab);
    }
    for (int64_t step = 1; !s; step++) {
        const int stats = step % STATS_EVERY == 0;
        int64_t n = 0;
        for (int64_t i = 0; i < N; i++) {
            boundary_ex *e = &ex[i];
            if (e->active && (e->src < SRC_CONVERGED || gb_bb_left(q, i) < 1)) e->active = 0;
            if (e->active && a->early_stop && a->eps > 0 &&
                gb_dec_dist(GB_NORM_L2, cur + i * D, q->x0 + i * D, D) <= a->eps)
                e->active = 0;
            if (!e->active) continue;
            propose(e, &e->rng, q->x0 + i * D, cur + i * D, D, lo, hi, sph + n * D, cand + n * D);
            who[n++] = i;
        }
        if (n == 0) break;
        if ((s = gb_dec_ask(&dec, cand, n, who, 0, adv, lab))) break;
        for (int64_t j = 0; j < n; j++) {
            boundary_ex *e = &ex[who[j]];
            if (stats) queue_push(&e->src_stats, adv[j]);
            if (!adv[j]) continue;
            /* A step towards x0 that stays adversarial is closer: take it. */
            memcpy(cur + who[j] * D, cand + j * D, (size_t)D * sizeof(float));
            e->lab = lab[j];
            gb_dec_record(&dec, who[j], cur + who[j] * D, e->lab);
        }
        if (!stats) continue;
        /* The spherical points, for the step-size statistics, of the
         * examples with a query left. */
        int64_t m = 0;
        for (int64_t j = 0; j < n; j++) {
            if (gb_bb_left(q, who[j]) < 1) continue;
            if (m != j) memcpy(sph + m * D, sph + j * D, (size_t)D * sizeof(float));
            who[m++] = who[j];
        }
        if ((s = gb_dec_ask(&dec, sph, m, who, 0, adv, NULL))) break;
        for (int64_t j = 0; j < m; j++) {
            boundary_ex *e = &ex[who[j]];
            queue_push(&e->sph_stats, adv[j]);
            adapt(&e->sph_stats, &e->sph, 0.5, 0.2);
            adapt(&e->src_stats, &e->src, 0.25, 0.1);
        }
    }
    for (int64_t i = 0; i < N && (!s || s == GB_ERR_BUDGET); i++) gb_dec_finish(&dec, i, GB_NORM_L2);
    gb_free(ex);
    gb_free(cur);
    gb_free(cand);
    gb_free(sph);
    gb_free(who);
    gb_free(adv);
    gb_free(lab);
    gb_dec_free(&dec);
    return s;
}

gb_status gb_attack_boundary(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                             const int *target, gb_attack_result *r) {
    return gb_bb_on_model(a, m, x, y, target, r);
}
