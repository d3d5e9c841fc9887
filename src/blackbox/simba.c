/* simba.c — SimBA, the simple black-box attack (Guo, Gardner, You, Wilson &
 * Weinberger, "Simple Black-box Adversarial Attacks", ICML 2019, Alg. 1).
 *
 * Walks through orthonormal directions q in random order without
 * replacement; for each tries x - eps*q, then x + eps*q, and keeps the first
 * that lowers the probability of the true class (raises the target's,
 * targeted). Directions are pixels (SimBA) or 2-D DCT basis images with the
 * low frequencies first (SimBA-DCT): an H/W block of side freq_ratio * H in
 * random order, then L-shaped bands of width 1 growing outwards, each in
 * random order (the authors' block_order with stride 1). Orthonormality
 * means each accepted step adds exactly eps^2 to ||delta||_2^2 (the paper's
 * sec. 3 bound ||delta||_2 = eps * sqrt(T)) as long as the box [clip_min,
 * clip_max] does not clip — the authors clamp to the box as we do. eps is
 * a->step_size (0.2). Each step costs one or two queries.
 */
#include "blackbox/blackbox.h"

#include <math.h>

void gb_dct_image(int64_t H, int64_t W, int64_t u, int64_t v, float *out) {
    const double au = sqrt((u ? 2.0 : 1.0) / (double)H), av = sqrt((v ? 2.0 : 1.0) / (double)W);
    for (int64_t h = 0; h < H; h++) {
        const double ch = au * cos(M_PI * (2 * h + 1) * (double)u / (2.0 * (double)H));
        for (int64_t w = 0; w < W; w++)
            out[h * W + w] = (float)(ch * av * cos(M_PI * (2 * w + 1) * (double)v / (2.0 * (double)W)));
    }
}

typedef struct simba_key {
    uint32_t band, tie;
    int64_t coord;
} simba_key;

static int key_cmp(const void *pa, const void *pb) {
    const simba_key *a = pa, *b = pb;
    if (a->band != b->band) return a->band < b->band ? -1 : 1;
    if (a->tie != b->tie) return a->tie < b->tie ? -1 : 1;
    return (a->coord > b->coord) - (a->coord < b->coord);
}

/* The order in which example's directions are tried, into order (D). */
static void simba_order(const gb_bb *q, gb_rng *rng, int64_t *order, simba_key *keys) {
    const int64_t HW = q->H * q->W;
    const int dct = q->a->basis == GB_BASIS_DCT;
    const int64_t init = GB_MAX((int64_t)(q->a->freq_ratio * (float)q->H), 1);
    for (int64_t k = 0; k < q->D; k++) {
        const int64_t u = (k % HW) / q->W, v = k % q->W, m = GB_MAX(u, v);
        keys[k].band = !dct || (u < init && v < init) ? 0 : (uint32_t)(m - init + 1);
        keys[k].tie = gb_rng_u32(rng);
        keys[k].coord = k;
    }
    qsort(keys, (size_t)q->D, sizeof *keys, key_cmp);
    for (int64_t k = 0; k < q->D; k++) order[k] = keys[k].coord;
}

/* The objective SimBA lowers: log p_y (untargeted) or -log p_t. */
static double simba_score(const gb_bb *q, int64_t i, const float *lp) {
    return q->t ? -(double)lp[q->t[i]] : (double)lp[q->y[i]];
}

gb_status gb_bb_simba(gb_bb *q) {
    const gb_attack *a = q->a;
    if (a->basis != GB_BASIS_PIXEL && a->basis != GB_BASIS_DCT) return gb_error(GB_ERR_ARG, "simba: basis %d unknown", (int)a->basis);
    if (!(a->freq_ratio > 0 && a->freq_ratio <= 1)) return gb_error(GB_ERR_ARG, "simba: frequency ratio %g outside (0, 1]", a->freq_ratio);
    if (!(a->step_size > 0)) return gb_error(GB_ERR_ARG, "simba: step size (eps per direction) must be positive");
    const int64_t N = q->N, D = q->D, K = q->K, HW = q->H * q->W;
    if (N == 0) return GB_OK;
    const float eps = a->step_size, lo = a->clip_min, hi = a->clip_max;
    int64_t *order = gb_malloc((size_t)(N * D) * sizeof *order);
    int64_t *next = gb_calloc((size_t)N, sizeof *next);
    simba_key *keys = gb_malloc((size_t)D * sizeof *keys);
    double *score = gb_malloc((size_t)N * sizeof *score);
    float *cand = gb_malloc((size_t)(N * D) * sizeof *cand);
    float *dir = gb_malloc((size_t)(N * D) * sizeof *dir);
    float *lp = gb_malloc((size_t)(N * K) * sizeof *lp);
    int *lab = gb_malloc((size_t)N * sizeof *lab);
    int64_t *idx = gb_malloc((size_t)N * sizeof *idx), *ex = gb_malloc((size_t)N * sizeof *ex);
    int64_t *who = gb_malloc((size_t)N * sizeof *who);
    int *acc = gb_malloc((size_t)N * sizeof *acc);
    gb_status s = GB_OK;
    if (!order || !next || !keys || !score || !cand || !dir || !lp || !lab || !idx || !ex || !who || !acc)
        s = GB_ERR_NOMEM;
    float *best = q->r->x_adv->data;
    for (int64_t i = 0; i < N && !s; i++) {
        gb_rng rng;
        gb_rng_seed(&rng, a->seed, (uint64_t)i);
        simba_order(q, &rng, order + i * D, keys);
        score[i] = simba_score(q, i, q->p0 + i * K);
    }
    while (!s) {
        int64_t n = 0;
        for (int64_t i = 0; i < N; i++)
            if (!gb_bb_hit(q, i, q->r->adv_pred[i]) && gb_bb_left(q, i) > 0 && next[i] < D) idx[n++] = i;
        if (n == 0) break;
        /* The next direction of each example, as an image. */
        for (int64_t j = 0; j < n; j++) {
            const int64_t i = idx[j], c = order[i * D + next[i]++];
            float *d = dir + j * D;
            memset(d, 0, (size_t)D * sizeof *d);
            if (a->basis == GB_BASIS_PIXEL)
                d[c] = 1;
            else
                gb_dct_image(q->H, q->W, (c % HW) / q->W, c % q->W, d + (c / HW) * HW);
        }
        /* Minus first, then plus for the examples minus did not help. */
        for (int64_t j = 0; j < n; j++) acc[j] = 0;
        for (int sign = -1; sign <= 1 && !s; sign += 2) {
            int64_t m = 0;
            for (int64_t j = 0; j < n; j++) {
                const int64_t i = idx[j];
                if (acc[j] || gb_bb_left(q, i) < 1) continue;
                float *x = cand + m * D;
                for (int64_t k = 0; k < D; k++) {
                    float v = best[i * D + k] + (float)sign * eps * dir[j * D + k];
                    x[k] = v < lo ? lo : v > hi ? hi : v;
                }
                who[m] = j;
                ex[m++] = i;
            }
            s = gb_bb_query(q, cand, m, ex, lp, lab);
            for (int64_t k = 0; k < m && !s; k++) {
                const int64_t i = ex[k];
                const double sc = simba_score(q, i, lp + k * K);
                if (sc < score[i]) {
                    score[i] = sc;
                    acc[who[k]] = 1;
                    memcpy(best + i * D, cand + k * D, (size_t)D * sizeof(float));
                    gb_bb_set_answer(q, i, lp + k * K, lab[k]);
                }
            }
        }
    }
    gb_free(order);
    gb_free(next);
    gb_free(keys);
    gb_free(score);
    gb_free(cand);
    gb_free(dir);
    gb_free(lp);
    gb_free(lab);
    gb_free(idx);
    gb_free(ex);
    gb_free(who);
    gb_free(acc);
    return s;
}
