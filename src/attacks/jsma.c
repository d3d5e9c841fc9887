/* jsma.c — the Jacobian-based saliency map attack (Papernot et al. 2016,
 * "The limitations of deep learning in adversarial settings", alg. 3 with
 * the pixel-pair saliency map of eq. 10), on the logits (JSMA-Z, as in
 * cleverhans). Per iteration, with G_t = grad Z_t and G_o = grad sum_{j!=t} Z_j
 * (two backward passes: one-hot rows and all-ones rows, G_o = G_all - G_t,
 * the cheaper target/other-sum form of the paper instead of the full Jacobian):
 *     alpha_pq = G_t[p] + G_t[q],  beta_pq = G_o[p] + G_o[q]
 *     (p, q) = argmax over the search domain of alpha*|beta| with alpha > 0, beta < 0
 * then x_p, x_q += theta (in units of the range, clipped) and both leave the
 * domain. Untargeted (an extension): the same with t = y and the signs
 * flipped (push Z_y down, the others up). Stops at success, when no pair
 * qualifies, or when gamma*D features have changed: the L0 budget is never
 * exceeded. A negative theta decreases features (the domain is then the
 * features above clip_min). */
#include "attacks.h"

#include <math.h>

gb_status gb_attack_jsma(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                         const int *target, gb_attack_result *r) {
    gb_atk_work w;
    GB_TRY(gb_atk_init(&w, m, x, y, target, r));
    const int64_t N = w.N, D = w.D, K = w.K;
    const float lo = a->clip_min, hi = a->clip_max, range = hi - lo;
    const int64_t budget = (int64_t)floor((double)a->gamma * (double)D + 1e-9);
    const float sg = (a->theta >= 0 ? 1.0f : -1.0f) * (target ? 1.0f : -1.0f);
    size_t ND = (size_t)(N * D) + 1, NN = (size_t)GB_MAX(N, 1);
    unsigned char *dom = gb_malloc(ND);
    float *gall = gb_malloc(ND * sizeof(float)), *dl = gb_malloc(NN * (size_t)K * sizeof(float));
    float *al = gb_malloc((size_t)D * sizeof(float) + 1), *be = gb_malloc((size_t)D * sizeof(float) + 1);
    int64_t *changed = gb_calloc(NN, sizeof(int64_t)), *list = gb_malloc((size_t)D * sizeof(int64_t) + 1);
    int *keep = gb_malloc(NN * sizeof(int));
    gb_status s = GB_OK;
    if (!dom || !gall || !dl || !al || !be || !changed || !list || !keep) s = GB_ERR_NOMEM;
    for (int64_t i = 0; i < N * D && !s; i++)
        dom[i] = a->theta >= 0 ? w.x0[i] < hi : w.x0[i] > lo;
    for (int it = 0; w.n > 0 && !s; it++) {
        if ((s = gb_atk_forward(&w))) break;
        for (int64_t j = 0; j < w.n; j++) {
            const int64_t i = w.idx[j];
            memcpy(r->x_adv->data + i * D, w.x.data + j * D, (size_t)D * sizeof(float));
            keep[j] = !gb_atk_hit(&w, j) && changed[i] + 2 <= budget;
        }
        int64_t before = w.n;
        gb_atk_compact(&w, keep);
        if (w.n == 0) break;
        if (w.n != before && (s = gb_atk_forward(&w))) break;
        /* G_t (target, or y untargeted) into w.grad; G_all into gall. */
        for (int64_t j = 0; j < w.n; j++) {
            float *d = dl + j * K;
            memset(d, 0, (size_t)K * sizeof(float));
            d[w.t ? w.ts[j] : w.ys[j]] = 1;
        }
        if ((s = gb_atk_backward(&w, dl, w.grad))) break;
        for (int64_t q = 0; q < w.n * K; q++) dl[q] = 1;
        if ((s = gb_atk_backward(&w, dl, gall))) break;
        for (int64_t j = 0; j < w.n; j++) {
            const int64_t i = w.idx[j];
            const float *gt = w.grad + j * D, *ga = gall + j * D;
            unsigned char *dm = dom + i * D;
            int64_t L = 0;
            for (int64_t p = 0; p < D; p++) {
                if (!dm[p]) continue;
                al[L] = sg * gt[p];
                be[L] = sg * (ga[p] - gt[p]);
                list[L++] = p;
            }
            int64_t bp = -1, bq = -1;
            float best = 0;
            for (int64_t u = 0; u < L; u++) {
                const float au = al[u], bu = be[u];
                for (int64_t v = u + 1; v < L; v++) {
                    float A = au + al[v], B = bu + be[v];
                    if (A > 0 && B < 0 && -A * B > best) {
                        best = -A * B;
                        bp = u;
                        bq = v;
                    }
                }
            }
            keep[j] = bp >= 0;
            if (!keep[j]) continue;
            float *xj = w.x.data + j * D;
            int64_t ps[2] = {list[bp], list[bq]};
            for (int e = 0; e < 2; e++) {
                float v = xj[ps[e]] + a->theta * range;
                xj[ps[e]] = v < lo ? lo : (v > hi ? hi : v);
                dm[ps[e]] = 0;
            }
            changed[i] += 2;
        }
        /* Examples with no qualifying pair keep their last point. */
        gb_atk_compact(&w, keep);
    }
    gb_free(dom), gb_free(gall), gb_free(dl), gb_free(al), gb_free(be), gb_free(changed), gb_free(list),
        gb_free(keep);
    gb_atk_free(&w);
    return s;
}
