/* deepfool.c — DeepFool (Moosavi-Dezfooli, Fawzi & Frossard 2016,
 * "DeepFool: a simple and accurate method to fool deep neural networks",
 * alg. 2 (L2) and sec. 3.3 (L-p, here L-inf)). At each iteration, for every
 * class k != y, with f_k = Z_k - Z_y and w_k = grad f_k (one backward pass
 * per class, one-hot rows of dlogits, batched over the examples):
 *     l = argmin_k |f_k| / ||w_k||_q        (q = 2 for L2, q = 1 for L-inf)
 *     r = (|f_l| / ||w_l||_q + 1e-4) * w_l / ||w_l||_2      (L2)
 *     r = (|f_l| / ||w_l||_1 + 1e-4) * sign(w_l)            (L-inf)
 * r_tot += r; x = clip(x0 + (1 + overshoot) * r_tot), until the label
 * changes or 50 iterations (the constants of the authors' code). On an
 * affine classifier one iteration lands (1+overshoot) times past the closest
 * decision hyperplane: the minimal perturbation in closed form.
 * Targeted (an extension): only the target's hyperplane against the
 * currently predicted class is used, one backward pass per iteration. */
#include "attacks.h"

#include <math.h>

gb_status gb_attack_deepfool(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                             const int *target, gb_attack_result *r) {
    if (a->norm != GB_NORM_L2 && a->norm != GB_NORM_LINF)
        return gb_error(GB_ERR_ARG, "deepfool: norm must be l2 or linf (got %s)", gb_norm_name(a->norm));
    gb_atk_work w;
    GB_TRY(gb_atk_init(&w, m, x, y, target, r));
    const int64_t N = w.N, D = w.D, K = w.K;
    const int q1 = a->norm == GB_NORM_LINF;
    size_t ND = (size_t)(N * D) + 1, NN = (size_t)GB_MAX(N, 1);
    float *rtot = gb_calloc(ND, sizeof(float)), *bestw = gb_malloc(ND * sizeof(float)),
          *dl = gb_malloc(NN * (size_t)K * sizeof(float));
    double *bestp = gb_malloc(NN * sizeof(double));
    int *keep = gb_malloc(NN * sizeof(int)), *ref = gb_malloc(NN * sizeof(int));
    gb_status s = GB_OK;
    if (!rtot || !bestw || !dl || !bestp || !keep || !ref) s = GB_ERR_NOMEM;
    for (int it = 0; it <= a->steps && w.n > 0 && !s; it++) {
        if ((s = gb_atk_forward(&w))) break;
        for (int64_t j = 0; j < w.n; j++) {
            keep[j] = !gb_atk_hit(&w, j);
            if (!keep[j]) memcpy(r->x_adv->data + w.idx[j] * D, w.x.data + j * D, (size_t)D * sizeof(float));
        }
        if (it == a->steps) break;
        int64_t before = w.n;
        gb_atk_compact(&w, keep);
        if (w.n == 0) break;
        /* Backward needs the forward of exactly these rows. */
        if (w.n != before && (s = gb_atk_forward(&w))) break;
        for (int64_t j = 0; j < w.n; j++) {
            bestp[j] = INFINITY;
            ref[j] = w.t ? gb_argmax(w.logits + j * K, K) : w.ys[j];
        }
        for (int64_t k = 0; k < (w.t ? 1 : K) && !s; k++) {
            int any = 0;
            for (int64_t j = 0; j < w.n; j++) {
                float *d = dl + j * K;
                memset(d, 0, (size_t)K * sizeof(float));
                int64_t c = w.t ? w.ts[j] : k;
                if (c == ref[j]) continue;
                d[c] = 1;
                d[ref[j]] = -1;
                any = 1;
            }
            if (!any) continue;
            if ((s = gb_atk_backward(&w, dl, w.grad))) break;
            for (int64_t j = 0; j < w.n; j++) {
                int64_t c = w.t ? w.ts[j] : k;
                if (c == ref[j]) continue;
                const float *z = w.logits + j * K, *g = w.grad + j * D;
                double f = fabs((double)z[c] - z[ref[j]]);
                double wn = gb_norm_of(q1 ? GB_NORM_L1 : GB_NORM_L2, g, D);
                if (!(wn > 0)) continue;
                double p = f / wn;
                if (p < bestp[j]) {
                    bestp[j] = p;
                    memcpy(bestw + j * D, g, (size_t)D * sizeof(float));
                }
            }
        }
        if (s) break;
        for (int64_t j = 0; j < w.n; j++) {
            const int64_t i = w.idx[j];
            float *rt = rtot + i * D, *xj = w.x.data + j * D;
            const float *x0 = w.x0 + i * D, *g = bestw + j * D;
            keep[j] = isfinite(bestp[j]);
            if (!keep[j]) continue; /* no gradient towards any boundary: give up */
            if (q1) {
                float f = (float)(bestp[j] + 1e-4);
                for (int64_t q = 0; q < D; q++) rt[q] += f * (float)((g[q] > 0) - (g[q] < 0));
            } else {
                float f = (float)((bestp[j] + 1e-4) / gb_norm_of(GB_NORM_L2, g, D));
                for (int64_t q = 0; q < D; q++) rt[q] += f * g[q];
            }
            for (int64_t q = 0; q < D; q++) {
                float v = x0[q] + (1 + a->overshoot) * rt[q];
                xj[q] = v < a->clip_min ? a->clip_min : (v > a->clip_max ? a->clip_max : v);
            }
            /* The latest iterate is what a failed example returns. */
            memcpy(r->x_adv->data + i * D, xj, (size_t)D * sizeof(float));
        }
        gb_atk_compact(&w, keep);
    }
    gb_free(rtot), gb_free(bestw), gb_free(dl), gb_free(bestp), gb_free(keep), gb_free(ref);
    gb_atk_free(&w);
    return s;
}
