/* apgd.c — Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial
 * robustness with an ensemble of diverse parameter-free attacks", alg. 1),
 * following the authors' code (autoattack/autopgd_base.py):
 *  - random start x0 = x + eps*u/||u|| (u uniform in [-1,1]^D for L-inf, Gaussian for L2);
 *  - step size eta = 2*eps per example; the step with momentum alpha = 0.75
 *    (1 on the first iteration):
 *      z = P(x_k + eta*step(grad)),  x_{k+1} = P(x_k + alpha*(z - x_k) + (1-alpha)*(x_k - x_{k-1}));
 *  - checkpoints every k iterations, k starting at 0.22*N_iter and shrinking
 *    by 0.03*N_iter down to 0.06*N_iter; at a checkpoint eta halves and the
 *    iterate restarts from the best point (with its gradient) when the
 *    objective rose in at most 75% of the last k steps, or when the best
 *    objective did not improve since the previous checkpoint and eta was not
 *    halved there;
 *  - losses: cross-entropy, or the DLR loss (targeted DLR with a target).
 * Returns per example the last adversarial iterate, else the best-objective one.
 * Restarts run only on examples not yet broken. */
#include "attacks.h"

#include <math.h>

gb_status gb_attack_apgd(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                         const int *target, gb_attack_result *r) {
    if (a->norm != GB_NORM_LINF && a->norm != GB_NORM_L2)
        return gb_error(GB_ERR_ARG, "apgd: norm must be linf or l2 (got %s)", gb_norm_name(a->norm));
    gb_atk_work w;
    GB_TRY(gb_atk_init(&w, m, x, y, target, r));
    const int64_t N = w.N, D = w.D;
    const int n_iter = GB_MAX(a->steps, 1);
    const int k_first = GB_MAX((int)(0.22 * n_iter), 1), k_min = GB_MAX((int)(0.06 * n_iter), 1),
              k_decr = GB_MAX((int)(0.03 * n_iter), 1);
    const float lo = a->clip_min, hi = a->clip_max, mu = a->momentum, rho = 0.75f;
    gb_rng rng;
    gb_rng_seed(&rng, a->seed, 13);
    size_t ND = (size_t)(N * D), NN = (size_t)GB_MAX(N, 1);
    float *x_prev = gb_malloc(ND * sizeof(float) + 1), *x_best = gb_malloc(ND * sizeof(float) + 1),
          *g_best = gb_malloc(ND * sizeof(float) + 1), *z = gb_malloc((size_t)(2 * D + 1) * sizeof(float)),
          *scratch = gb_malloc((size_t)(2 * D + 1) * sizeof(float));
    float *eta = gb_malloc(NN * sizeof(float)), *loss_best = gb_malloc(NN * sizeof(float)),
          *best_last = gb_malloc(NN * sizeof(float)), *hist = gb_malloc(NN * (size_t)n_iter * sizeof(float));
    int *reduced = gb_malloc(NN * sizeof(int)), *want = gb_malloc(NN * sizeof(int));
    gb_status s = GB_OK;
    if (!x_prev || !x_best || !g_best || !z || !scratch || !eta || !loss_best || !best_last || !hist ||
        !reduced || !want)
        s = GB_ERR_NOMEM;
    int *won = r->success; /* scratch until gb_attack_result_finish fills it */
    for (int64_t i = 0; i < N && !s; i++) won[i] = 0;
    for (int rs = 0; rs < GB_MAX(a->restarts, 1) && !s; rs++) {
        for (int64_t i = 0; i < N; i++) want[i] = !won[i];
        gb_atk_select(&w, want);
        if (w.n == 0) break;
        for (int64_t j = 0; j < w.n; j++) {
            const int64_t i = w.idx[j];
            float *xj = w.x.data + j * D;
            const float *x0 = w.x0 + i * D;
            double n = 0;
            for (int64_t k = 0; k < D; k++) {
                z[k] = a->norm == GB_NORM_LINF ? 2 * gb_rng_uniform(&rng) - 1 : gb_rng_normal(&rng);
                n = a->norm == GB_NORM_LINF ? fmax(n, fabs(z[k])) : n + (double)z[k] * z[k];
            }
            if (a->norm == GB_NORM_L2) n = sqrt(n);
            float f = n > 0 ? (float)(a->eps / n) : 0;
            for (int64_t k = 0; k < D; k++) xj[k] = x0[k] + f * z[k];
            gb_norm_project(a->norm, xj, x0, D, a->eps, lo, hi, scratch);
            memcpy(x_prev + i * D, xj, (size_t)D * sizeof(float));
            memcpy(x_best + i * D, xj, (size_t)D * sizeof(float));
            eta[i] = 2 * a->eps;
            reduced[i] = 1;
        }
        if ((s = gb_atk_eval(&w, a->loss, a->kappa, 1))) break;
        for (int64_t j = 0; j < w.n; j++) {
            const int64_t i = w.idx[j];
            loss_best[i] = best_last[i] = w.obj[j];
            memcpy(g_best + i * D, w.grad + j * D, (size_t)D * sizeof(float));
            memcpy(r->x_adv->data + i * D, w.x.data + j * D, (size_t)D * sizeof(float));
            if (gb_atk_hit(&w, j)) won[i] = 1;
        }
        int k = k_first, counter = 0;
        for (int it = 0; it < n_iter && !s; it++) {
            const float am = it > 0 ? mu : 1.0f;
            for (int64_t j = 0; j < w.n; j++) {
                const int64_t i = w.idx[j];
                float *xj = w.x.data + j * D, *xp = x_prev + i * D;
                const float *x0 = w.x0 + i * D;
                memcpy(z, xj, (size_t)D * sizeof(float));
                gb_norm_step(a->norm, z, w.grad + j * D, D, eta[i], lo, hi, 0, scratch);
                gb_norm_project(a->norm, z, x0, D, a->eps, lo, hi, scratch);
                for (int64_t q = 0; q < D; q++) {
                    float cur = xj[q];
                    z[q] = cur + (z[q] - cur) * am + (cur - xp[q]) * (1 - am);
                    xp[q] = cur;
                }
                gb_norm_project(a->norm, z, x0, D, a->eps, lo, hi, scratch);
                memcpy(xj, z, (size_t)D * sizeof(float));
            }
            if ((s = gb_atk_eval(&w, a->loss, a->kappa, 1))) break;
            counter++;
            const int check = counter == k;
            for (int64_t j = 0; j < w.n; j++) {
                const int64_t i = w.idx[j];
                float *xj = w.x.data + j * D, *gj = w.grad + j * D;
                if (gb_atk_hit(&w, j)) {
                    won[i] = 1;
                    memcpy(r->x_adv->data + i * D, xj, (size_t)D * sizeof(float));
                }
                float *h = hist + i * n_iter;
                h[it] = w.obj[j];
                if (w.obj[j] > loss_best[i]) {
                    loss_best[i] = w.obj[j];
                    memcpy(x_best + i * D, xj, (size_t)D * sizeof(float));
                    memcpy(g_best + i * D, gj, (size_t)D * sizeof(float));
                    if (!won[i]) memcpy(r->x_adv->data + i * D, xj, (size_t)D * sizeof(float));
                }
                if (!check) continue;
                int rises = 0;
                for (int c = 0; c < k; c++) {
                    float cur = h[it - c], prev = it - c - 1 >= 0 ? h[it - c - 1] : 0;
                    rises += cur > prev;
                }
                int halve = rises <= k * rho || (!reduced[i] && best_last[i] >= loss_best[i]);
                reduced[i] = halve;
                best_last[i] = loss_best[i];
                if (halve) {
                    eta[i] /= 2;
                    memcpy(xj, x_best + i * D, (size_t)D * sizeof(float));
                    memcpy(gj, g_best + i * D, (size_t)D * sizeof(float));
                }
            }
            if (check) {
                counter = 0;
                k = GB_MAX(k - k_decr, k_min);
            }
        }
    }
    gb_free(x_prev);
    gb_free(x_best);
    gb_free(g_best);
    gb_free(z);
    gb_free(scratch);
    gb_free(eta);
    gb_free(loss_best);
    gb_free(best_last);
    gb_free(hist);
    gb_free(reduced);
    gb_free(want);
    gb_atk_free(&w);
    return s;
}
