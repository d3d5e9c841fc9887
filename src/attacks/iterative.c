/* iterative.c — the projected-gradient family, one loop:
 *  - BIM / I-FGSM (Kurakin, Goodfellow & Bengio 2017, "Adversarial examples
 *    in the physical world", sec. 2.2): x_{k+1} = Clip_{x,eps}(x_k +
 *    alpha*sign(grad)), alpha = 1/255, min(eps+4, 1.25*eps) iterations (eps
 *    in 0..255 units), no random start.
 *  - Iterative least-likely class (ibid., sec. 2.3): the same, descending the
 *    cross-entropy of the class the clean image makes least likely.
 *  - PGD (Madry et al. 2018, "Towards deep learning models resistant to
 *    adversarial attacks", eq. 2): uniform random start in the ball, steps in
 *    L-inf, L2 or L1 (SLIDE) geometry, projection after every step, several
 *    restarts keeping per example a successful point, else the one of highest
 *    objective. Default alpha = 2.5*eps/steps.
 *  - MI-FGSM (Dong et al. 2018, "Boosting adversarial attacks with momentum",
 *    alg. 1): g_{k+1} = mu*g_k + grad/||grad||_1, x_{k+1} = Clip(x_k +
 *    alpha*sign(g_{k+1})), alpha = eps/T.
 *  - C&W-L-inf as PGD on the Carlini-Wagner margin loss.
 * Any of them takes the transfer-friendly gradients of diversity.c: DI
 * (di_prob) and TI (ti_kernel), TI applied before MI's normalization as in
 * Dong et al. 2019.
 * Every iterate is evaluated (forward) before its step, so success is seen
 * on exactly the point that is returned; with early_stop an example leaves
 * the working set at its first success. */
#include "attacks.h"

#include <math.h>

int gb_attack_bim_steps(float eps_255) {
    double n = fmin(eps_255 + 4.0, 1.25 * eps_255);
    return (int)GB_MAX(1.0, ceil(n - 1e-6));
}

typedef struct iter_cfg {
    gb_norm norm;
    gb_loss_kind loss;
    int steps, restarts, random_start, early_stop;
    float alpha, mu; /* mu < 0: no momentum */
} iter_cfg;

static iter_cfg configure(const gb_attack *a) {
    const float range = a->clip_max - a->clip_min;
    iter_cfg c = {a->norm, a->loss, a->steps, GB_MAX(a->restarts, 1), a->random_start, a->early_stop,
                  a->step_size, -1};
    switch (a->kind) {
    case GB_ATTACK_BIM:
    case GB_ATTACK_ILL:
        c.norm = GB_NORM_LINF;
        c.restarts = 1;
        c.random_start = 0;
        if (c.alpha <= 0) c.alpha = range / 255;
        if (c.steps <= 0) c.steps = gb_attack_bim_steps(a->eps / range * 255);
        break;
    case GB_ATTACK_MIFGSM:
        c.norm = GB_NORM_LINF;
        c.restarts = 1;
        c.random_start = 0;
        c.mu = a->momentum;
        if (c.steps <= 0) c.steps = 10;
        if (c.alpha <= 0) c.alpha = a->eps / (float)c.steps;
        break;
    case GB_ATTACK_CW_LINF: c.norm = GB_NORM_LINF; /* fall through */
    default:
        if (c.steps <= 0) c.steps = 40;
        if (c.alpha <= 0) c.alpha = 2.5f * a->eps / (float)c.steps;
        break;
    }
    return c;
}

gb_status gb_attack_iterative(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                              const int *target, gb_attack_result *r) {
    const iter_cfg c = configure(a);
    gb_atk_work w;
    GB_TRY(gb_atk_init(&w, m, x, y, target, r));
    w.eot = a->eot_samples;
    const int64_t N = w.N, D = w.D;
    const float lo = a->clip_min, hi = a->clip_max;
    gb_rng rng;
    gb_rng_seed(&rng, a->seed, 11);
    /* DI draws from its own stream, so di_prob leaves random starts unchanged. */
    gb_rng di_rng;
    gb_rng_seed(&di_rng, a->seed, 12);
    const int di = a->di_prob > 0;
    float *mom = c.mu >= 0 ? gb_calloc((size_t)(N * D), sizeof(float)) : NULL;
    float *best = gb_malloc((size_t)GB_MAX(N, 1) * sizeof(float));
    float *scratch = gb_malloc((size_t)(2 * D + 1) * sizeof(float));
    int *want = gb_malloc((size_t)GB_MAX(N, 1) * sizeof(int));
    int *keep = gb_malloc((size_t)GB_MAX(N, 1) * sizeof(int));
    gb_status s = GB_OK;
    if ((c.mu >= 0 && !mom) || !best || !scratch || !want || !keep) s = GB_ERR_NOMEM;
    for (int64_t i = 0; i < N && !s; i++) best[i] = -INFINITY;
    int *won = r->success; /* scratch until gb_attack_result_finish fills it */
    for (int64_t i = 0; i < N && !s; i++) won[i] = 0;
    for (int rs = 0; rs < c.restarts && !s; rs++) {
        for (int64_t i = 0; i < N; i++) want[i] = !won[i];
        gb_atk_select(&w, want);
        if (w.n == 0) break;
        if (mom) memset(mom, 0, (size_t)(N * D) * sizeof(float));
        if (c.random_start)
            for (int64_t j = 0; j < w.n; j++)
                gb_norm_random_start(c.norm, w.x.data + j * D, w.x0 + w.idx[j] * D, D, a->eps, lo, hi, &rng);
        for (int it = 0; it <= c.steps && w.n > 0; it++) {
            const int last = it == c.steps;
            if ((s = gb_atk_eval(&w, c.loss, a->kappa, !last && !di))) break;
            if (di && !last && (s = gb_di_gradient(&w, c.loss, a->kappa, a->di_prob, &di_rng))) break;
            for (int64_t j = 0; j < w.n; j++) {
                const int64_t i = w.idx[j];
                float *xj = w.x.data + j * D, *adv = r->x_adv->data + i * D;
                keep[j] = 1;
                if (gb_atk_hit(&w, j)) {
                    memcpy(adv, xj, (size_t)D * sizeof(float));
                    won[i] = 1;
                    if (c.early_stop) keep[j] = 0;
                } else if (!won[i] && w.obj[j] > best[i]) {
                    best[i] = w.obj[j];
                    memcpy(adv, xj, (size_t)D * sizeof(float));
                }
                if (last || !keep[j]) continue;
                const float *g = w.grad + j * D;
                if (a->ti_kernel > 1) gb_ti_smooth(w.grad + j * D, x->shape[1], x->shape[2], x->shape[3], a->ti_kernel, scratch);
                if (mom) {
                    /* MI-FGSM: accumulate the L1-normalized gradient, step on its sign. */
                    float *v = mom + i * D;
                    double l1 = gb_norm_of(GB_NORM_L1, g, D);
                    float f = l1 > 0 ? (float)(1.0 / l1) : 0.0f;
                    for (int64_t k = 0; k < D; k++) v[k] = c.mu * v[k] + f * g[k];
                    g = v;
                }
                gb_norm_step(c.norm, xj, g, D, c.alpha, lo, hi, a->sparsity, scratch);
                gb_norm_project(c.norm, xj, w.x0 + i * D, D, a->eps, lo, hi, scratch);
            }
            gb_atk_compact(&w, keep);
        }
    }
    gb_free(mom);
    gb_free(best);
    gb_free(scratch);
    gb_free(want);
    gb_free(keep);
    gb_atk_free(&w);
    return s;
}
