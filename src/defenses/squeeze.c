/* squeeze.c — feature squeezing as a detector (Xu, Evans & Qi 2018,
 * "Feature squeezing: detecting adversarial examples in deep neural
 * networks", sec. 4): a legitimate input and its squeezed versions (lower
 * bit depth, median-smoothed) get similar predictions; an adversarial one,
 * tuned to the model's exact input, often does not. The score is the
 * largest L1 distance between the softmax vectors of the input and of each
 * squeezed input; the threshold is set on clean data for a target false
 * positive rate. */
#include "defenses.h"

#include <math.h>

static void softmax_rows(const float *z, int64_t n, int64_t K, float *p) {
    for (int64_t i = 0; i < n; i++) {
        const float *zi = z + i * K;
        float *pi = p + i * K, mx = zi[0];
        for (int64_t k = 1; k < K; k++) mx = fmaxf(mx, zi[k]);
        double sum = 0;
        for (int64_t k = 0; k < K; k++) sum += pi[k] = expf(zi[k] - mx);
        for (int64_t k = 0; k < K; k++) pi[k] = (float)(pi[k] / sum);
    }
}

gb_status gb_squeeze_scores(gb_model *m, const gb_tensor *x, const gb_defense *sq, int nsq, float *score) {
    if (nsq < 1) return gb_error(GB_ERR_ARG, "feature squeezing: no squeezer given");
    if (x->ndim != 4) return gb_error(GB_ERR_SHAPE, "feature squeezing: needs images (N, C, H, W)");
    const int64_t N = x->shape[0];
    int was_training = m->training;
    gb_model_set_training(m, 0);
    gb_tensor y = {0};
    float *p0 = NULL, *p1 = NULL;
    const gb_tensor *z;
    gb_rng rng;
    gb_rng_seed(&rng, 17, 3); /* only resize-pad squeezers draw */
    gb_status s = gb_model_forward(m, x, &z);
    const int64_t K = s ? 0 : z->size / GB_MAX(N, 1);
    if (!s) {
        p0 = gb_malloc((size_t)GB_MAX(N * K, 1) * sizeof *p0);
        p1 = gb_malloc((size_t)GB_MAX(N * K, 1) * sizeof *p1);
        if (!p0 || !p1) s = GB_ERR_NOMEM;
    }
    if (!s) softmax_rows(z->data, N, K, p0);
    for (int64_t i = 0; i < N && !s; i++) score[i] = 0;
    for (int q = 0; q < nsq && !s; q++) {
        if ((s = gb_defense_apply(&sq[q], x, &y, &rng)) || (s = gb_model_forward(m, &y, &z))) break;
        softmax_rows(z->data, N, K, p1);
        for (int64_t i = 0; i < N; i++) {
            double l1 = 0;
            for (int64_t k = 0; k < K; k++) l1 += fabsf(p0[i * K + k] - p1[i * K + k]);
            score[i] = fmaxf(score[i], (float)l1);
        }
    }
    gb_free(p0);
    gb_free(p1);
    gb_tensor_release(&y);
    gb_model_set_training(m, was_training);
    return s;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

float gb_squeeze_threshold(const float *clean, int64_t n, double fpr) {
    if (n <= 0) return INFINITY;
    float *v = gb_malloc((size_t)n * sizeof *v);
    if (!v) return INFINITY; /* flags nothing: the safe side for a false-positive budget */
    memcpy(v, clean, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    /* At most floor(fpr n) clean scores may lie above the threshold. */
    int64_t above = (int64_t)floor(fmax(0.0, fmin(1.0, fpr)) * (double)n + 1e-9);
    float t = v[GB_MAX(n - above - 1, 0)];
    if (above >= n) t = -INFINITY;
    gb_free(v);
    return t;
}
