/* fab.c — FAB, the fast adaptive boundary attack (Croce & Hein 2020,
 * "Minimally distorted adversarial examples with a fast adaptive boundary
 * attack", alg. 1), untargeted and FAB-T as AutoAttack runs it, for L-inf,
 * L2 and L1. Each iteration, at the current point x (the clean x0 first):
 *  - linearize the boundary between the reference class and a rival l:
 *    f = z_l - z_ref, g = grad f (one backward pass with a +1/-1 row of
 *    dlogits). Untargeted, ref = y and l is the class closest in the
 *    linear model, argmin_l |f_l| / ||g_l||_q (q the dual norm: K backward
 *    passes); FAB-T, l is the target and ref = y; with explicit targets,
 *    l = t and ref = the strongest class other than t;
 *  - project x and x0 onto the plane {z : f + g.(z - x) = 0} inside the
 *    box (fab_project.c): steps d1, d2;
 *  - alpha = min(||d1|| / (||d1|| + ||d2||), alpha_max), biased towards x0,
 *    x := clip((1 - alpha)(x + eta d1) + alpha (x0 + eta d2));
 *  - once x is adversarial it is recorded if it is the smallest so far, and
 *    x := x0 + beta (x - x0) steps back towards x0 (the paper's backward step).
 * Restart r > 0 starts at x0 plus a random direction of norm half the
 * smaller of eps and the best norm so far. FAB-T (targeted, target == NULL)
 * runs once per target: the 1st, 2nd, ... n_target_classes-th highest
 * clean logit other than y. Adversarial means misclassified (as in
 * AutoAttack) untargeted and for FAB-T, classified as t with targets given.
 *
 * Which examples a run covers and what comes back (as AutoAttack):
 *  - untargeted and FAB-T attack the examples the model gets right (the
 *    others already are adversarial), explicit targets those not already
 *    classified as their target;
 *  - eps == 0 (minimal mode): every restart and every target runs on all of
 *    them and x_adv is the smallest adversarial found;
 *  - eps > 0: a restart or target runs only on examples with no
 *    adversarial of norm <= eps yet, and x_adv is the smallest one only if
 *    its norm is <= eps. Otherwise, and when none was found, x_adv is the
 *    clean image, so success and robust accuracy mean "broken within eps". */
#include "attacks/fab.h"

#include <math.h>

enum { FAB_UNTARGETED, FAB_TOP_K, FAB_TARGETS };

typedef struct fab_ctx {
    const gb_attack *a;
    gb_atk_work w;
    int64_t N, D, K;
    int mode;
    float *hyper;       /* (n, D) normal g of each row's plane */
    double *f;          /* (n) the plane's value at the row */
    double *dist;       /* (n) untargeted: distance of the closest plane so far */
    float *dl;          /* (n, K) dlogits rows */
    float *d1, *d2;     /* (D) projections of x and x0 */
    gb_fab_item *items; /* (D) projection scratch */
    double *best;       /* (N) smallest adversarial norm so far (INFINITY: none) */
    int *tgt;           /* (N) FAB-T: this pass's target */
    int *order;         /* (N, K) classes by decreasing clean logit */
    int *attackable;    /* (N) */
    int *want;          /* (N) */
    gb_rng rng;
} fab_ctx;

static float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* ||x - x0|| in double, as gb_attack_result_finish measures it. */
static double dist_of(gb_norm norm, const float *x, const float *x0, int64_t D) {
    double s = 0;
    for (int64_t q = 0; q < D; q++) {
        double e = fabs((double)x[q] - x0[q]);
        s = norm == GB_NORM_LINF ? fmax(s, e) : (norm == GB_NORM_L2 ? s + e * e : s + e);
    }
    return norm == GB_NORM_L2 ? sqrt(s) : s;
}

static int row_target(const fab_ctx *c, int64_t j) {
    return c->mode == FAB_TARGETS ? c->w.ts[j] : c->tgt[c->w.idx[j]];
}

static int is_adv(const fab_ctx *c, int64_t j) {
    int p = gb_argmax(c->w.logits + j * c->K, c->K);
    return c->mode == FAB_TARGETS ? p == c->w.ts[j] : p != c->w.ys[j];
}

/* The plane (hyper, f) of every active row, after a forward of the rows. */
static gb_status hyperplanes(fab_ctx *c) {
    gb_atk_work *w = &c->w;
    const int64_t n = w->n, D = c->D, K = c->K;
    if (c->mode != FAB_UNTARGETED) {
        for (int64_t j = 0; j < n; j++) {
            const float *z = w->logits + j * K;
            float *row = c->dl + j * K;
            const int t = row_target(c, j);
            int ref = w->ys[j];
            if (c->mode == FAB_TARGETS) { /* the strongest class other than t */
                ref = t == 0 ? 1 : 0;
                for (int k = 0; k < K; k++)
                    if (k != t && z[k] > z[ref]) ref = k;
            }
            memset(row, 0, (size_t)K * sizeof *row);
            row[t] = 1;
            row[ref] = -1;
            c->f[j] = (double)z[t] - z[ref];
        }
        return gb_atk_backward(w, c->dl, c->hyper);
    }
    const gb_norm dual = c->a->norm == GB_NORM_LINF ? GB_NORM_L1 : (c->a->norm == GB_NORM_L1 ? GB_NORM_LINF : GB_NORM_L2);
    for (int64_t j = 0; j < n; j++) {
        c->dist[j] = INFINITY;
        c->f[j] = 0;
        memset(c->hyper + j * D, 0, (size_t)D * sizeof(float));
    }
    for (int k = 0; k < K; k++) {
        for (int64_t j = 0; j < n; j++) {
            float *row = c->dl + j * K;
            memset(row, 0, (size_t)K * sizeof *row);
            if (k == w->ys[j]) continue; /* a zero row: its gradient is zero */
            row[k] = 1;
            row[w->ys[j]] = -1;
        }
        GB_TRY(gb_atk_backward(w, c->dl, w->grad));
        for (int64_t j = 0; j < n; j++) {
            if (k == w->ys[j]) continue;
            const float *z = w->logits + j * K, *g = w->grad + j * D;
            double fk = (double)z[k] - z[w->ys[j]], d = fabs(fk) / (1e-12 + gb_norm_of(dual, g, D));
            if (d < c->dist[j]) {
                c->dist[j] = d;
                c->f[j] = fk;
                memcpy(c->hyper + j * D, g, (size_t)D * sizeof(float));
            }
        }
    }
    return GB_OK;
}

/* The biased, extrapolated projection step of row j. */
static void fab_step(fab_ctx *c, int64_t j) {
    const gb_attack *a = c->a;
    const int64_t D = c->D;
    float *x = c->w.x.data + j * D;
    const float *x0 = c->w.x0 + c->w.idx[j] * D, *g = c->hyper + j * D;
    double gx = 0;
    for (int64_t q = 0; q < D; q++) gx += (double)g[q] * x[q];
    const double b = gx - c->f[j]; /* the plane: g.z = b */
    gb_fab_project(a->norm, x, g, b, D, a->clip_min, a->clip_max, c->d1, c->items);
    gb_fab_project(a->norm, x0, g, b, D, a->clip_min, a->clip_max, c->d2, c->items);
    const double n1 = fmax(gb_norm_of(a->norm, c->d1, D), 1e-8), n2 = fmax(gb_norm_of(a->norm, c->d2, D), 1e-8);
    const float alpha = (float)fmin(n1 / (n1 + n2), a->alpha_max), eta = a->eta;
    for (int64_t q = 0; q < D; q++) {
        float v = (1 - alpha) * (x[q] + eta * c->d1[q]) + alpha * (x0[q] + eta * c->d2[q]);
        x[q] = clampf(v, a->clip_min, a->clip_max);
    }
}

/* Row j starts at x0 plus a random direction of norm rad (AutoAttack's draw:
 * uniform in the cube for L-inf, Gaussian for L2 and L1, rescaled). */
static void random_start(fab_ctx *c, int64_t j, double rad) {
    const gb_attack *a = c->a;
    const int64_t D = c->D;
    float *x = c->w.x.data + j * D, *u = c->d1;
    const float *x0 = c->w.x0 + c->w.idx[j] * D;
    for (int64_t q = 0; q < D; q++) u[q] = a->norm == GB_NORM_LINF ? 2 * gb_rng_uniform(&c->rng) - 1 : gb_rng_normal(&c->rng);
    double n = gb_norm_of(a->norm, u, D);
    float s = n > 0 ? (float)(rad / n) : 0.0f;
    for (int64_t q = 0; q < D; q++) x[q] = clampf(x0[q] + s * u[q], a->clip_min, a->clip_max);
}

/* One run of a->steps iterations over the examples with want[i]. */
static gb_status fab_pass(fab_ctx *c, int restart) {
    const gb_attack *a = c->a;
    gb_atk_work *w = &c->w;
    const int64_t D = c->D;
    gb_atk_select(w, c->want);
    if (w->n == 0) return GB_OK;
    if (restart > 0)
        for (int64_t j = 0; j < w->n; j++) {
            double rad = c->best[w->idx[j]];
            if (a->eps > 0) rad = fmin(rad, a->eps);
            if (isfinite(rad)) random_start(c, j, 0.5 * rad);
        }
    int fresh = 0; /* whether the last forward was of the current rows */
    for (int it = 0; it < a->steps; it++) {
        if (!fresh) GB_TRY(gb_atk_forward(w));
        GB_TRY(hyperplanes(c));
        for (int64_t j = 0; j < w->n; j++) fab_step(c, j);
        GB_TRY(gb_atk_forward(w));
        fresh = 1;
        for (int64_t j = 0; j < w->n; j++) {
            if (!is_adv(c, j)) continue;
            const int64_t i = w->idx[j];
            float *x = w->x.data + j * D;
            const float *x0 = w->x0 + i * D;
            double nrm = dist_of(a->norm, x, x0, D);
            if (nrm < c->best[i]) {
                c->best[i] = nrm;
                memcpy(w->r->x_adv->data + i * D, x, (size_t)D * sizeof(float));
            }
            for (int64_t q = 0; q < D; q++) x[q] = x0[q] + a->beta * (x[q] - x0[q]);
            fresh = 0;
        }
    }
    return GB_OK;
}

/* Clean logits of every example: who is attackable, and (FAB-T) the class order. */
static gb_status prepare(fab_ctx *c, const int *target) {
    gb_atk_work *w = &c->w;
    const int64_t K = c->K;
    GB_TRY(gb_atk_forward(w));
    for (int64_t i = 0; i < c->N; i++) {
        const float *z = w->logits + i * K;
        int *o = c->order + i * K;
        for (int k = 0; k < K; k++) { /* insertion sort by decreasing logit; K is small */
            int p = k;
            while (p > 0 && z[o[p - 1]] < z[k]) {
                o[p] = o[p - 1];
                p--;
            }
            o[p] = k;
        }
        c->attackable[i] = c->mode == FAB_TARGETS ? o[0] != target[i] : o[0] == w->y[i];
        c->best[i] = INFINITY;
    }
    return GB_OK;
}

gb_status gb_attack_fab(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                        const int *target, gb_attack_result *r) {
    if (a->norm != GB_NORM_LINF && a->norm != GB_NORM_L2 && a->norm != GB_NORM_L1)
        return gb_error(GB_ERR_ARG, "fab: norm must be linf, l2 or l1 (got %s)", gb_norm_name(a->norm));
    if (!target && a->targeted && a->n_target_classes < 1)
        return gb_error(GB_ERR_ARG, "fab: targeted without targets needs n_target_classes >= 1");
    fab_ctx c = {0};
    c.a = a;
    c.mode = target ? FAB_TARGETS : (a->targeted ? FAB_TOP_K : FAB_UNTARGETED);
    GB_TRY(gb_atk_init(&c.w, m, x, y, target, r));
    c.N = c.w.N, c.D = c.w.D, c.K = c.w.K;
    if (c.K < 2) {
        gb_atk_free(&c.w);
        return gb_error(GB_ERR_SHAPE, "fab: the model needs at least 2 classes");
    }
    gb_rng_seed(&c.rng, a->seed, 17);
    const size_t N = (size_t)GB_MAX(c.N, 1), D = (size_t)c.D + 1, K = (size_t)c.K;
    c.hyper = gb_malloc(N * D * sizeof(float));
    c.f = gb_malloc(N * sizeof(double));
    c.dist = gb_malloc(N * sizeof(double));
    c.dl = gb_malloc(N * K * sizeof(float));
    c.d1 = gb_malloc(D * sizeof(float));
    c.d2 = gb_malloc(D * sizeof(float));
    c.items = gb_malloc(D * sizeof(gb_fab_item));
    c.best = gb_malloc(N * sizeof(double));
    c.tgt = gb_calloc(N, sizeof(int));
    c.order = gb_malloc(N * K * sizeof(int));
    c.attackable = gb_malloc(N * sizeof(int));
    c.want = gb_malloc(N * sizeof(int));
    gb_status s = GB_OK;
    if (!c.hyper || !c.f || !c.dist || !c.dl || !c.d1 || !c.d2 || !c.items || !c.best || !c.tgt ||
        !c.order || !c.attackable || !c.want)
        s = GB_ERR_NOMEM;
    if (!s) s = prepare(&c, target);
    const int passes = c.mode == FAB_TOP_K ? (int)GB_MIN((int64_t)a->n_target_classes, c.K - 1) : 1;
    for (int p = 0; p < passes && !s; p++) {
        if (c.mode == FAB_TOP_K)
            for (int64_t i = 0; i < c.N; i++) {
                /* The p-th strongest clean class other than y. */
                const int *o = c.order + i * c.K;
                int seen = 0;
                for (int64_t k = 0; k < c.K; k++) {
                    if (o[k] == y[i]) continue;
                    if (seen++ == p) {
                        c.tgt[i] = o[k];
                        break;
                    }
                }
            }
        for (int rs = 0; rs < GB_MAX(a->restarts, 1) && !s; rs++) {
            for (int64_t i = 0; i < c.N; i++) c.want[i] = c.attackable[i] && !(a->eps > 0 && c.best[i] <= a->eps);
            s = fab_pass(&c, rs);
        }
    }
    if (!s && a->eps > 0)
        for (int64_t i = 0; i < c.N; i++)
            if (c.best[i] > a->eps && isfinite(c.best[i]))
                memcpy(r->x_adv->data + i * c.D, x->data + i * c.D, (size_t)c.D * sizeof(float));
    gb_free(c.hyper), gb_free(c.f), gb_free(c.dist), gb_free(c.dl), gb_free(c.d1), gb_free(c.d2);
    gb_free(c.items), gb_free(c.best), gb_free(c.tgt), gb_free(c.order), gb_free(c.attackable);
    gb_free(c.want);
    gb_atk_free(&c.w);
    return s;
}
