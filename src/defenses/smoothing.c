/* smoothing.c — randomized smoothing (Cohen, Rosenfeld & Kolter 2019,
 * "Certified adversarial robustness via randomized smoothing", alg. 1 and
 * thm. 1): the smoothed classifier g(x) = argmax_c P(f(x + eps) = c), eps ~
 * N(0, sigma^2 I), predicts c_A robustly within the L2 radius
 * sigma * Phi^-1(p_A) when p_A > 1/2.
 *  - CERTIFY: n0 samples choose c_A, n fresh samples (so the choice does not
 *    bias the estimate) give the one-sided Clopper-Pearson lower bound p_A
 *    at level 1 - alpha; abstain when it is below 1/2.
 *  - PREDICT: the top two counts of n samples; answer only when the exact
 *    two-sided binomial test rejects "they are equally likely" at alpha.
 * Noise is not clipped to [0,1] (as in the paper's experiments), and drawn
 * sequentially from one rng, so results depend on the seed only. */
#include "defenses.h"

#include <math.h>

gb_smooth_params gb_smooth_default_params(void) {
    return (gb_smooth_params){0.25f, 100, 100000, 0.001, 400, 1};
}

static gb_status check_params(const gb_smooth_params *p) {
    if (!(p->sigma > 0) || !isfinite(p->sigma)) return gb_error(GB_ERR_ARG, "smoothing: sigma must be positive");
    if (p->n0 < 1 || p->n < 1) return gb_error(GB_ERR_ARG, "smoothing: sample counts must be positive");
    if (!(p->alpha > 0 && p->alpha < 1)) return gb_error(GB_ERR_ARG, "smoothing: alpha must be in (0, 1)");
    if (p->batch < 1) return gb_error(GB_ERR_ARG, "smoothing: batch must be positive");
    return GB_OK;
}

/* counts[K] += class counts of f on `num` noisy copies of image x0 (D values). */
static gb_status sample_counts(gb_model *m, const float *x0, const gb_tensor *shape, int64_t num,
                               const gb_smooth_params *p, gb_rng *rng, gb_tensor *buf, int64_t *counts,
                               int64_t K) {
    const int64_t D = shape->size / shape->shape[0];
    while (num > 0) {
        int64_t b = GB_MIN(num, (int64_t)p->batch);
        int64_t s[GB_MAX_DIMS];
        memcpy(s, shape->shape, sizeof s);
        s[0] = b;
        GB_TRY(gb_tensor_resize(buf, shape->ndim, s));
        for (int64_t j = 0; j < b; j++)
            for (int64_t k = 0; k < D; k++) buf->data[j * D + k] = x0[k] + p->sigma * gb_rng_normal(rng);
        const gb_tensor *z;
        GB_TRY(gb_model_forward(m, buf, &z));
        if (z->size != b * K) return gb_error(GB_ERR_SHAPE, "smoothing: the model's logits are not (N, %lld)", (long long)K);
        for (int64_t j = 0; j < b; j++) {
            const float *zj = z->data + j * K;
            int64_t best = 0;
            for (int64_t c = 1; c < K; c++)
                if (zj[c] > zj[best]) best = c;
            counts[best]++;
        }
        num -= b;
    }
    return GB_OK;
}

/* Shared driver: mode 0 certify, 1 predict. */
static gb_status smooth_run(gb_model *m, const gb_tensor *x, const gb_smooth_params *p, int mode,
                            int *pred, double *radius, double *pa_lower) {
    GB_TRY(check_params(p));
    if (x->ndim < 2 || x->shape[0] < 1) return gb_error(GB_ERR_SHAPE, "smoothing: needs a batch of images");
    const int64_t N = x->shape[0], D = x->size / N;
    int was_training = m->training;
    gb_model_set_training(m, 0);
    gb_tensor buf = {0};
    const gb_tensor *z;
    gb_tensor one = *x;
    one.shape[0] = 1;
    one.size = D;
    one.cap = 0;
    gb_status s = gb_model_forward(m, &one, &z);
    const int64_t K = s ? 0 : z->shape[z->ndim - 1];
    int64_t *counts = s ? NULL : gb_calloc((size_t)GB_MAX(K, 1), sizeof *counts);
    if (!s && !counts) s = GB_ERR_NOMEM;
    gb_rng rng;
    gb_rng_seed(&rng, p->seed, 21);
    for (int64_t i = 0; i < N && !s; i++) {
        const float *xi = x->data + i * D;
        memset(counts, 0, (size_t)K * sizeof *counts);
        if (mode == 0) {
            if ((s = sample_counts(m, xi, x, p->n0, p, &rng, &buf, counts, K))) break;
            int64_t ca = 0;
            for (int64_t c = 1; c < K; c++)
                if (counts[c] > counts[ca]) ca = c;
            memset(counts, 0, (size_t)K * sizeof *counts);
            if ((s = sample_counts(m, xi, x, p->n, p, &rng, &buf, counts, K))) break;
            double pa = gb_clopper_pearson_lower(counts[ca], p->n, p->alpha);
            if (pa_lower) pa_lower[i] = pa;
            pred[i] = pa < 0.5 ? -1 : (int)ca;
            radius[i] = pa < 0.5 ? 0 : p->sigma * gb_normal_quantile(pa);
        } else {
            if ((s = sample_counts(m, xi, x, p->n, p, &rng, &buf, counts, K))) break;
            int64_t a = 0, b = K > 1 ? 1 : 0;
            if (counts[b] > counts[a]) a = 1, b = 0;
            for (int64_t c = 2; c < K; c++) {
                if (counts[c] > counts[a]) b = a, a = c;
                else if (counts[c] > counts[b]) b = c;
            }
            double pv = gb_binom_test_half(counts[a], counts[a] + counts[b]);
            pred[i] = pv <= p->alpha ? (int)a : -1;
        }
    }
    gb_free(counts);
    gb_tensor_release(&buf);
    gb_model_set_training(m, was_training);
    return s;
}

gb_status gb_smooth_certify(gb_model *m, const gb_tensor *x, const gb_smooth_params *p, int *pred,
                            double *radius, double *pa_lower) {
    return smooth_run(m, x, p, 0, pred, radius, pa_lower);
}

gb_status gb_smooth_predict(gb_model *m, const gb_tensor *x, const gb_smooth_params *p, int *pred) {
    return smooth_run(m, x, p, 1, pred, NULL, NULL);
}
