/* apgd.c — Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial
 * robustness with an ensemble of diverse parameter-free attacks", sec. 3 and
 * alg. 1), with the authors' code (autoattack/autopgd_base.py) settling what
 * the paper leaves open (when a checkpoint is evaluated, the first step):
 *  - random start x0 = x + eps*u/||u|| (u uniform in [-1,1]^D for L-inf, Gaussian for L2);
 *  - step size eta = 2*eps per example; the step with momentum alpha = 0.75
 *    (1 on the first iteration, which is the paper's plain x1 = P(x0 + eta*step)):
 *      z = P(x_k + eta*step(grad)),  x_{k+1} = P(x_k + alpha*(z - x_k) + (1-alpha)*(x_k - x_{k-1}));
 *  - checkpoints after w_1 = 0.22*N_iter iterations, then every k iterations
 *    with k shrinking by 0.03*N_iter down to 0.06*N_iter (w_j - w_{j-1} =
 *    max(w_{j-1} - w_{j-2} - 0.03, 0.06) in fractions of N_iter); at a
 *    checkpoint eta halves and the iterate restarts from the best point
 *    (with its gradient) when gb_apgd_ckpt_check says so (the paper's
 *    conditions 1 and 2, where the authors' code departs from them);
 *  - losses: cross-entropy, or the DLR loss (eq. 6; targeted DLR, eq. 7).
 * Examples the model already gets wrong (or, with targets, already puts in
 * their target class) are not attacked and come back unchanged, as in the
 * authors' code. Each restart runs only on the examples not yet broken.
 *
 * APGD-T (targeted, target == NULL): as AutoAttack, the targeted loss
 * against each of the 1st..n_target_classes-th highest clean logits other
 * than y in turn, each pass only on the examples still classified
 * correctly; success is then any misclassification, not reaching the target.
 *
 * Returns per example the last adversarial iterate, else the best-objective one. */
#include "attacks.h"

#include <math.h>

/* The paper's conditions where the authors' code differs: it counts a
 * rise in the first window against 0 instead of f(x0) (an index that wraps
 * to a row not yet written), halves at <= rho*k rises instead of < rho*k,
 * skips condition 2 at the first checkpoint, and after a restart counts the
 * next rise against the discarded iterate instead of x_max, which the
 * paper's "x(k+1) <- x_max" makes the current one. */
void gb_apgd_ckpt_start(gb_apgd_ckpt *c, float f0) {
    c->f0 = c->best_last = f0;
    c->halved_last = 0; /* eta^(w0) = eta^(w1): condition 2 applies at w1 */
}

int gb_apgd_ckpt_check(gb_apgd_ckpt *c, float *hist, int it, int k, float rho, float best) {
    int rises = 0;
    for (int i = it - k + 1; i <= it; i++) rises += hist[i] > (i > 0 ? hist[i - 1] : c->f0);
    const int halve = rises < rho * k || (!c->halved_last && c->best_last >= best);
    c->halved_last = halve;
    c->best_last = best;
    if (halve) hist[it] = best;
    return halve;
}

/* Classes by decreasing clean logit, y left out: order (N, K-1). */
static void rank_wrong_classes(const float *logits, const int *y, int64_t N, int64_t K, int *order) {
    for (int64_t i = 0; i < N; i++) {
        const float *z = logits + i * K;
        int *o = order + i * (K - 1), n = 0;
        for (int k = 0; k < K; k++) {
            if (k == y[i]) continue;
            int pos = n++;
            /* Insertion sort, ties keep the lower class first: K is small. */
            while (pos > 0 && z[k] > z[o[pos - 1]]) {
                o[pos] = o[pos - 1];
                pos--;
            }
            o[pos] = k;
        }
    }
}

typedef struct apgd_state {
    const gb_attack *a;
    gb_atk_work w;
    gb_rng rng;
    int any_wrong; /* success = misclassified (untargeted and APGD-T), else = target reached */
    int n_iter, k_first, k_min, k_decr;
    float *x_prev, *x_best, *g_best, *z, *scratch, *eta, *loss_best, *hist;
    gb_apgd_ckpt *ck;
    int *won;
} apgd_state;

static int broken(const apgd_state *st, int64_t j) {
    const gb_atk_work *w = &st->w;
    return st->any_wrong ? gb_argmax(w->logits + j * w->K, w->K) != w->ys[j] : gb_atk_hit(w, j);
}

/* One run of alg. 1 from a fresh random start on the selected rows. */
static gb_status apgd_run(apgd_state *st, gb_attack_result *r) {
    const gb_attack *a = st->a;
    gb_atk_work *w = &st->w;
    const int64_t D = w->D;
    const int n_iter = st->n_iter;
    const float lo = a->clip_min, hi = a->clip_max, mu = a->momentum, rho = 0.75f;
    for (int64_t j = 0; j < w->n; j++) {
        const int64_t i = w->idx[j];
        float *xj = w->x.data + j * D, *z = st->z;
        const float *x0 = w->x0 + i * D;
        double n = 0;
        for (int64_t k = 0; k < D; k++) {
            z[k] = a->norm == GB_NORM_LINF ? 2 * gb_rng_uniform(&st->rng) - 1 : gb_rng_normal(&st->rng);
            n = a->norm == GB_NORM_LINF ? fmax(n, fabs(z[k])) : n + (double)z[k] * z[k];
        }
        if (a->norm == GB_NORM_L2) n = sqrt(n);
        float f = n > 0 ? (float)(a->eps / n) : 0;
        for (int64_t k = 0; k < D; k++) xj[k] = x0[k] + f * z[k];
        gb_norm_project(a->norm, xj, x0, D, a->eps, lo, hi, st->scratch);
        memcpy(st->x_prev + i * D, xj, (size_t)D * sizeof(float));
        memcpy(st->x_best + i * D, xj, (size_t)D * sizeof(float));
        st->eta[i] = 2 * a->eps;
    }
    GB_TRY(gb_atk_eval(w, a->loss, a->kappa, 1));
    for (int64_t j = 0; j < w->n; j++) {
        const int64_t i = w->idx[j];
        st->loss_best[i] = w->obj[j];
        gb_apgd_ckpt_start(&st->ck[i], w->obj[j]);
        memcpy(st->g_best + i * D, w->grad + j * D, (size_t)D * sizeof(float));
        memcpy(r->x_adv->data + i * D, w->x.data + j * D, (size_t)D * sizeof(float));
        if (broken(st, j)) st->won[i] = 1;
    }
    int k = st->k_first, counter = 0;
    for (int it = 0; it < n_iter; it++) {
        const float am = it > 0 ? mu : 1.0f;
        for (int64_t j = 0; j < w->n; j++) {
            const int64_t i = w->idx[j];
            float *xj = w->x.data + j * D, *xp = st->x_prev + i * D, *z = st->z;
            const float *x0 = w->x0 + i * D;
            memcpy(z, xj, (size_t)D * sizeof(float));
            gb_norm_step(a->norm, z, w->grad + j * D, D, st->eta[i], lo, hi, 0, st->scratch);
            gb_norm_project(a->norm, z, x0, D, a->eps, lo, hi, st->scratch);
            for (int64_t q = 0; q < D; q++) {
                float cur = xj[q];
                z[q] = cur + (z[q] - cur) * am + (cur - xp[q]) * (1 - am);
                xp[q] = cur;
            }
            gb_norm_project(a->norm, z, x0, D, a->eps, lo, hi, st->scratch);
            memcpy(xj, z, (size_t)D * sizeof(float));
        }
        GB_TRY(gb_atk_eval(w, a->loss, a->kappa, 1));
        counter++;
        const int check = counter == k;
        for (int64_t j = 0; j < w->n; j++) {
            const int64_t i = w->idx[j];
            float *xj = w->x.data + j * D, *gj = w->grad + j * D;
            if (broken(st, j)) {
                st->won[i] = 1;
                memcpy(r->x_adv->data + i * D, xj, (size_t)D * sizeof(float));
            }
            float *h = st->hist + i * n_iter;
            h[it] = w->obj[j];
            if (w->obj[j] > st->loss_best[i]) {
                st->loss_best[i] = w->obj[j];
                memcpy(st->x_best + i * D, xj, (size_t)D * sizeof(float));
                memcpy(st->g_best + i * D, gj, (size_t)D * sizeof(float));
                if (!st->won[i]) memcpy(r->x_adv->data + i * D, xj, (size_t)D * sizeof(float));
            }
            if (!check) continue;
            if (gb_apgd_ckpt_check(&st->ck[i], h, it, k, rho, st->loss_best[i])) {
                st->eta[i] /= 2;
                memcpy(xj, st->x_best + i * D, (size_t)D * sizeof(float));
                memcpy(gj, st->g_best + i * D, (size_t)D * sizeof(float));
            }
        }
        if (check) {
            counter = 0;
            k = GB_MAX(k - st->k_decr, st->k_min);
        }
    }
    return GB_OK;
}

gb_status gb_attack_apgd(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                         const int *target, gb_attack_result *r) {
    if (a->norm != GB_NORM_LINF && a->norm != GB_NORM_L2)
        return gb_error(GB_ERR_ARG, "apgd: norm must be linf or l2 (got %s)", gb_norm_name(a->norm));
    const int top_k = a->targeted && !target;
    if (top_k && a->n_target_classes < 1)
        return gb_error(GB_ERR_ARG, "apgd: targeted without targets (APGD-T) needs n_target_classes >= 1");
    apgd_state st;
    memset(&st, 0, sizeof st);
    st.a = a;
    st.any_wrong = !target;
    const int64_t N = x->shape[0];
    const size_t NN = (size_t)GB_MAX(N, 1);
    /* APGD-T's targets change per pass: the work set reads them from tgt. */
    int *tgt = top_k ? gb_calloc(NN, sizeof(int)) : NULL;
    if (top_k && !tgt) return GB_ERR_NOMEM;
    gb_status s = gb_atk_init(&st.w, m, x, y, top_k ? tgt : target, r);
    st.w.eot = a->eot_samples;
    if (s) {
        gb_free(tgt);
        return s;
    }
    const int64_t D = st.w.D, K = st.w.K;
    st.n_iter = GB_MAX(a->steps, 1);
    st.k_first = GB_MAX((int)(0.22 * st.n_iter), 1);
    st.k_min = GB_MAX((int)(0.06 * st.n_iter), 1);
    st.k_decr = GB_MAX((int)(0.03 * st.n_iter), 1);
    gb_rng_seed(&st.rng, a->seed, 13);
    size_t ND = (size_t)(N * D);
    st.x_prev = gb_malloc(ND * sizeof(float) + 1);
    st.x_best = gb_malloc(ND * sizeof(float) + 1);
    st.g_best = gb_malloc(ND * sizeof(float) + 1);
    st.z = gb_malloc((size_t)(2 * D + 1) * sizeof(float));
    st.scratch = gb_malloc((size_t)(2 * D + 1) * sizeof(float));
    st.eta = gb_malloc(NN * sizeof(float));
    st.loss_best = gb_malloc(NN * sizeof(float));
    st.hist = gb_malloc(NN * (size_t)st.n_iter * sizeof(float));
    st.ck = gb_malloc(NN * sizeof(gb_apgd_ckpt));
    int *want = gb_malloc(NN * sizeof(int));
    int *order = top_k ? gb_malloc(NN * (size_t)GB_MAX(K - 1, 1) * sizeof(int)) : NULL;
    if (!st.x_prev || !st.x_best || !st.g_best || !st.z || !st.scratch || !st.eta || !st.loss_best ||
        !st.hist || !st.ck || !want || (top_k && !order))
        s = GB_ERR_NOMEM;
    if (!s && top_k && K < 2) s = gb_error(GB_ERR_ARG, "apgd: APGD-T needs at least 2 classes");
    if (!s && top_k) {
        /* Targets by the clean logits, as the reference ranks them. */
        gb_atk_select(&st.w, NULL);
        s = gb_atk_forward(&st.w);
        if (!s) rank_wrong_classes(st.w.logits, y, N, K, order);
    }
    st.won = r->success; /* scratch until gb_attack_result_finish fills it */
    for (int64_t i = 0; i < N && !s; i++)
        st.won[i] = target ? r->clean_pred[i] == target[i] : r->clean_pred[i] != y[i];
    const int passes = top_k ? (int)GB_MIN((int64_t)a->n_target_classes, K - 1) : 1;
    for (int p = 0; p < passes && !s; p++) {
        for (int64_t i = 0; top_k && i < N; i++) tgt[i] = order[i * (K - 1) + p];
        for (int rs = 0; rs < GB_MAX(a->restarts, 1) && !s; rs++) {
            for (int64_t i = 0; i < N; i++) want[i] = !st.won[i];
            gb_atk_select(&st.w, want);
            if (st.w.n == 0) break;
            s = apgd_run(&st, r);
        }
    }
    gb_free(st.x_prev);
    gb_free(st.x_best);
    gb_free(st.g_best);
    gb_free(st.z);
    gb_free(st.scratch);
    gb_free(st.eta);
    gb_free(st.loss_best);
    gb_free(st.hist);
    gb_free(st.ck);
    gb_free(want);
    gb_free(order);
    gb_free(tgt);
    gb_atk_free(&st.w);
    return s;
}
