/* cw.c — Carlini & Wagner L2 (Carlini & Wagner 2017, "Towards evaluating the
 * robustness of neural networks", sec. VI-A), following the authors' code
 * (nn_robust_attacks/l2_attack.py):
 *  - change of variables x' = tanh(w + atanh(x~))*(hi-lo)/2 + (hi+lo)/2, with
 *    x~ the clean image mapped to (-1,1) (times 0.999999), w starting at 0;
 *  - minimize ||x' - x_tanh||^2 + c * max(margin, -kappa) where margin is
 *    max_{j!=t} Z_j - Z_t (targeted) or Z_y - max_{j!=y} Z_j (untargeted),
 *    by Adam (lr 1e-2, beta 0.9/0.999, eps 1e-8), state reset every c;
 *  - early abort when the loss has not dropped by 0.01% over steps/10 iterations;
 *  - binary search over c per example: c0 = 1e-3, c *= 10 while no success
 *    has been found, then bisection between the largest failing and the
 *    smallest successful c;
 *  - the successful iterate with the smallest L2 over the whole search is
 *    returned (success judged with the margin kappa); none: the clean image.
 * Differences from the authors' code: the abort test is per example (theirs
 * sums the batch, so the batch size changed the result), and an example
 * whose search aborts leaves the batch, so it costs nothing more. */
#include "attacks.h"

#include <math.h>

gb_status gb_attack_cw_l2(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                          const int *target, gb_attack_result *r) {
    gb_atk_work w;
    GB_TRY(gb_atk_init(&w, m, x, y, target, r));
    const int64_t N = w.N, D = w.D, K = w.K;
    const float bm = (a->clip_max - a->clip_min) / 2, bp = (a->clip_max + a->clip_min) / 2;
    const int steps = GB_MAX(a->steps, 1), period = GB_MAX(steps / 10, 1);
    const double b1 = 0.9, b2 = 0.999, adam_eps = 1e-8;
    size_t ND = (size_t)(N * D) + 1, NN = (size_t)GB_MAX(N, 1);
    float *mod = gb_malloc(ND * sizeof(float)), *mo = gb_malloc(ND * sizeof(float)),
          *ve = gb_malloc(ND * sizeof(float)), *timg = gb_malloc(ND * sizeof(float)),
          *xrec = gb_malloc(ND * sizeof(float)), *th = gb_malloc(ND * sizeof(float));
    double *cst = gb_malloc(NN * sizeof(double)), *lower = gb_malloc(NN * sizeof(double)),
           *upper = gb_malloc(NN * sizeof(double)), *prev = gb_malloc(NN * sizeof(double)),
           *bestl2 = gb_malloc(NN * sizeof(double)), *obestl2 = gb_malloc(NN * sizeof(double));
    int *found = gb_malloc(NN * sizeof(int)), *keep = gb_malloc(NN * sizeof(int));
    float *l2 = gb_malloc(NN * sizeof(float)), *zz = gb_malloc((size_t)K * sizeof(float));
    gb_status s = GB_OK;
    if (!mod || !mo || !ve || !timg || !xrec || !th || !cst || !lower || !upper || !prev || !bestl2 ||
        !obestl2 || !found || !keep || !l2 || !zz) {
        s = GB_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < N * D; i++) {
        timg[i] = atanhf((w.x0[i] - bp) / bm * 0.999999f);
        xrec[i] = tanhf(timg[i]) * bm + bp;
    }
    for (int64_t i = 0; i < N; i++) {
        cst[i] = a->initial_const;
        lower[i] = 0;
        upper[i] = 1e10;
        obestl2[i] = 1e10;
        r->cw_const[i] = 0;
    }
    for (int bs = 0; bs < GB_MAX(a->binary_steps, 1) && !s; bs++) {
        gb_atk_select(&w, NULL);
        memset(mod, 0, ND * sizeof(float));
        memset(mo, 0, ND * sizeof(float));
        memset(ve, 0, ND * sizeof(float));
        for (int64_t i = 0; i < N; i++) {
            bestl2[i] = 1e10;
            found[i] = 0;
            prev[i] = 1e6;
        }
        for (int it = 0; it < steps && w.n > 0; it++) {
            for (int64_t j = 0; j < w.n; j++) {
                const int64_t i = w.idx[j];
                float *xj = w.x.data + j * D, *t = th + i * D;
                const float *mi = mod + i * D, *ti = timg + i * D, *xr = xrec + i * D;
                double d2 = 0;
                for (int64_t q = 0; q < D; q++) {
                    t[q] = tanhf(mi[q] + ti[q]);
                    xj[q] = t[q] * bm + bp;
                    double e = (double)xj[q] - xr[q];
                    d2 += e * e;
                }
                l2[j] = (float)d2;
            }
            if ((s = gb_atk_forward(&w))) break;
            /* gb_attack_loss gives v = min(margin', kappa) to maximize; the
             * C&W term is max(-margin', -kappa) = -v, so d term / dz = -dv/dz. */
            gb_tensor zt = {0};
            zt.ndim = 2, zt.shape[0] = w.n, zt.shape[1] = K, zt.size = w.n * K, zt.data = w.logits;
            if ((s = gb_attack_loss(GB_LOSS_CW, &zt, w.ys, w.t ? w.ts : NULL, a->kappa, w.obj, &w.dl))) break;
            for (int64_t j = 0; j < w.n; j++) {
                const int64_t i = w.idx[j];
                float *dl = w.dl.data + j * K;
                for (int64_t k = 0; k < K; k++) dl[k] *= (float)-cst[i];
            }
            if ((s = gb_atk_backward(&w, w.dl.data, w.grad))) break;
            const double t1 = 1 - pow(b1, it + 1), t2 = 1 - pow(b2, it + 1);
            const double lr_t = a->lr * sqrt(t2) / t1;
            for (int64_t j = 0; j < w.n; j++) {
                const int64_t i = w.idx[j];
                const float *z = w.logits + j * K, *xj = w.x.data + j * D, *xr = xrec + i * D;
                const double loss = l2[j] + cst[i] * (a->kappa - w.obj[j]);
                /* Success with the confidence margin, as the authors' compare(). */
                memcpy(zz, z, (size_t)K * sizeof(float));
                if (w.t) zz[w.ts[j]] -= a->kappa;
                else zz[w.ys[j]] += a->kappa;
                int p = gb_argmax(zz, K), ok = w.t ? p == w.ts[j] : p != w.ys[j];
                if (ok && l2[j] < bestl2[i]) {
                    bestl2[i] = l2[j];
                    found[i] = 1;
                }
                if (ok && l2[j] < obestl2[i]) {
                    obestl2[i] = l2[j];
                    r->cw_const[i] = (float)cst[i];
                    memcpy(r->x_adv->data + i * D, xj, (size_t)D * sizeof(float));
                }
                keep[j] = 1;
                if (a->abort_early && it % period == 0) {
                    if (loss > prev[i] * 0.9999) keep[j] = 0;
                    prev[i] = loss;
                }
                if (!keep[j]) continue;
                /* d loss / d w = (2 (x' - x_tanh) + c d f/dx') * bm * (1 - tanh^2). */
                float *mi = mod + i * D, *m1 = mo + i * D, *v1 = ve + i * D;
                const float *g = w.grad + j * D, *t = th + i * D;
                for (int64_t q = 0; q < D; q++) {
                    double gq = (2.0 * ((double)xj[q] - xr[q]) + g[q]) * bm * (1.0 - (double)t[q] * t[q]);
                    m1[q] = (float)(b1 * m1[q] + (1 - b1) * gq);
                    v1[q] = (float)(b2 * v1[q] + (1 - b2) * gq * gq);
                    mi[q] -= (float)(lr_t * m1[q] / (sqrt((double)v1[q]) + adam_eps));
                }
            }
            gb_atk_compact(&w, keep);
        }
        for (int64_t i = 0; i < N; i++) {
            if (found[i]) {
                upper[i] = fmin(upper[i], cst[i]);
                if (upper[i] < 1e9) cst[i] = (lower[i] + upper[i]) / 2;
            } else {
                lower[i] = fmax(lower[i], cst[i]);
                cst[i] = upper[i] < 1e9 ? (lower[i] + upper[i]) / 2 : cst[i] * 10;
            }
        }
    }
done:
    gb_free(mod), gb_free(mo), gb_free(ve), gb_free(timg), gb_free(xrec), gb_free(th);
    gb_free(cst), gb_free(lower), gb_free(upper), gb_free(prev), gb_free(bestl2), gb_free(obestl2);
    gb_free(found), gb_free(keep), gb_free(l2), gb_free(zz);
    gb_atk_free(&w);
    return s;
}
