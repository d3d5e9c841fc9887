/* median.c — the k x k median filter as a graph op (GibbonMedian), the
 * spatial-smoothing squeezer of Xu et al. 2018 ("Feature squeezing",
 * sec. 3.2) and a classic input-transformation defense.
 *
 * The output at each pixel equals one input pixel of its window (the one of
 * rank k*k/2), so away from ties the median is differentiable with a
 * derivative that is 1 for that pixel and 0 for the others: backward routes
 * dy to the chosen pixel (kept in scratch by the forward). That is the true
 * derivative, not an approximation, which is why a median filter alone
 * masks no gradients. */
#include "defenses.h"

/* scipy.ndimage "reflect": -1 -> 0, -2 -> 1, n -> n-1, n+1 -> n-2. */
static int64_t reflect(int64_t i, int64_t n) {
    while (i < 0 || i >= n) {
        if (i < 0) i = -i - 1;
        if (i >= n) i = 2 * n - i - 1;
    }
    return i;
}

void gb_median_plane(float *y, float *arg, const float *x, int64_t H, int64_t W, int k) {
    const int lo = -(k / 2), n = k * k, rank = n / 2;
    float v[GB_MEDIAN_MAX * GB_MEDIAN_MAX];
    int64_t at[GB_MEDIAN_MAX * GB_MEDIAN_MAX];
    for (int64_t i = 0; i < H; i++)
        for (int64_t j = 0; j < W; j++) {
            int c = 0;
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++) {
                    int64_t idx = reflect(i + lo + a, H) * W + reflect(j + lo + b, W);
                    /* insertion sort: windows hold at most 49 values */
                    int p = c++;
                    while (p > 0 && v[p - 1] > x[idx]) {
                        v[p] = v[p - 1];
                        at[p] = at[p - 1];
                        p--;
                    }
                    v[p] = x[idx];
                    at[p] = idx;
                }
            y[i * W + j] = v[rank];
            if (arg) arg[i * W + j] = (float)at[rank];
        }
}

static gb_status median_init(gb_node *n) {
    int64_t k;
    GB_TRY(gb_attr_int(n, "size", 3, &k));
    if (k < 2 || k > GB_MEDIAN_MAX)
        return gb_error(GB_ERR_ARG, "node '%s' (%s): size %lld outside [2, %d]", n->name, n->op_type,
                        (long long)k, GB_MEDIAN_MAX);
    n->p.mode = (int)k;
    return GB_OK;
}

static gb_status median_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    GB_TRY(gb_defense_infer_planes(n, in, out));
    const gb_tensor *x = &in[0]->t;
    /* Plane indices are kept as floats: exact below 2^24 pixels per plane. */
    if (x->shape[x->ndim - 2] * x->shape[x->ndim - 1] > (1 << 24))
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): planes above 2^24 pixels", n->name,
                        n->op_type);
    n->scratch_need[0] = GB_MAX(x->size, 1);
    return GB_OK;
}

static void median_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                           const gb_exec *ex) {
    (void)ex;
    const gb_tensor *x = in[0];
    const int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1], P = H * W;
    const int64_t planes = P ? x->size / P : 0;
    float *arg = n->scratch[0].data;
#pragma omp parallel for schedule(static) if (planes > 16)
    for (int64_t p = 0; p < planes; p++)
        gb_median_plane(out[0]->data + p * P, arg + p * P, x->data + p * P, H, W, n->p.mode);
}

static void median_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                            gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)out, (void)ex;
    if (!din[0]) return;
    const gb_tensor *x = in[0];
    const int64_t P = x->shape[x->ndim - 2] * x->shape[x->ndim - 1];
    const int64_t planes = P ? x->size / P : 0;
    const float *arg = n->scratch[0].data, *dy = dout[0]->data;
    float *dx = din[0]->data;
    /* One plane per thread: a scatter stays inside its own plane. */
#pragma omp parallel for schedule(static) if (planes > 16)
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < P; i++) dx[p * P + (int64_t)arg[p * P + i]] += dy[p * P + i];
}

const gb_op_def gb_opdef_DEF_MEDIAN = {"GibbonMedian", 1, 1, 1, median_init, median_infer, median_forward,
                                       median_backward};
