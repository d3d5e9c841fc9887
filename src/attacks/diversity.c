/* diversity.c — transfer-friendly gradients for the iterative attacks.
 *  - Input diversity (DI; Xie et al. 2019, "Improving transferability of
 *    adversarial examples with input diversity", sec. 3.1): with probability
 *    p per example and iteration, the gradient is taken at T(x) instead of x,
 *    where T resizes the image to a random rnd x rnd and pads it with zeros
 *    at a random place back to a fixed size. The paper draws rnd in
 *    [299, 330) and pads to 330 for 299-pixel inputs; models here take one
 *    fixed size H, so the same geometry is used at the model's size: rnd in
 *    [ceil(H/1.1), H), padded to H (the paper's transform seen at scale
 *    H/1.1H). The resize is bilinear (half-pixel centres, as PyTorch's
 *    interpolate with align_corners=False); the gradient flows back through
 *    it (gb_di_resize_pad_backward is its exact transpose).
 *  - Translation invariance (TI; Dong et al. 2019, "Evading defenses to
 *    transferable adversarial examples by translation-invariant attacks",
 *    eq. 8): the gradient is convolved, per channel with zero padding, with
 *    a k x k Gaussian kernel spanning +-3 sigma, normalized to sum 1 (the
 *    authors' gkern(k, 3)); separable, so two 1-D passes. */
#include "attacks.h"

#include <math.h>

/* One bilinear source axis: for output index o of n outputs over an input of
 * length L, the two input indices and the weight of the second. */
static void axis_weights(int64_t o, int64_t n, int64_t L, int64_t *i0, int64_t *i1, float *f) {
    double s = ((double)o + 0.5) * (double)L / (double)n - 0.5;
    if (s < 0) s = 0;
    int64_t a = (int64_t)s;
    if (a > L - 1) a = L - 1;
    *i0 = a;
    *i1 = a + 1 < L ? a + 1 : L - 1;
    *f = (float)(s - (double)a);
}

/* The four source pixels (offsets in a plane of width W) and weights of
 * output pixel (i, j) of an (rh, rw) resize of an (H, W) plane. */
static void bilinear_at(int64_t i, int64_t j, int64_t H, int64_t W, int64_t rh, int64_t rw, int64_t at[4],
                        float w[4]) {
    int64_t a0, a1, b0, b1;
    float fa, fb;
    axis_weights(i, rh, H, &a0, &a1, &fa);
    axis_weights(j, rw, W, &b0, &b1, &fb);
    at[0] = a0 * W + b0, at[1] = a0 * W + b1, at[2] = a1 * W + b0, at[3] = a1 * W + b1;
    w[0] = (1 - fa) * (1 - fb), w[1] = (1 - fa) * fb, w[2] = fa * (1 - fb), w[3] = fa * fb;
}

void gb_di_resize_pad_forward(const float *x, int64_t C, int64_t H, int64_t W, int64_t rh, int64_t rw, int64_t top,
                              int64_t left, float *y) {
    memset(y, 0, (size_t)(C * H * W) * sizeof(float));
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < rh; i++)
            for (int64_t j = 0; j < rw; j++) {
                int64_t at[4];
                float w[4];
                bilinear_at(i, j, H, W, rh, rw, at, w);
                const float *xc = x + c * H * W;
                y[c * H * W + (top + i) * W + left + j] = w[0] * xc[at[0]] + w[1] * xc[at[1]] + w[2] * xc[at[2]] +
                                                          w[3] * xc[at[3]];
            }
}

void gb_di_resize_pad_backward(const float *dy, int64_t C, int64_t H, int64_t W, int64_t rh, int64_t rw,
                               int64_t top, int64_t left, float *dx) {
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < rh; i++)
            for (int64_t j = 0; j < rw; j++) {
                int64_t at[4];
                float w[4];
                bilinear_at(i, j, H, W, rh, rw, at, w);
                const float g = dy[c * H * W + (top + i) * W + left + j];
                for (int k = 0; k < 4; k++) dx[c * H * W + at[k]] += w[k] * g;
            }
}

/* A random size in [ceil(L/1.1), L) (L itself when L is too small to shrink). */
static int64_t di_size(int64_t L, gb_rng *rng) {
    int64_t lo = (int64_t)ceil((double)L / 1.1);
    if (lo >= L) return L;
    return lo + (int64_t)gb_rng_below(rng, (uint32_t)(L - lo));
}

gb_status gb_di_gradient(gb_atk_work *w, gb_loss_kind loss, float kappa, float prob, gb_rng *rng) {
    const int64_t n = w->n, D = w->D, K = w->K;
    if (n == 0) return GB_OK;
    const int64_t C = w->x.shape[1], H = w->x.shape[2], W = w->x.shape[3];
    /* The caller's forward at x decides success: keep its logits and objective. */
    float *keep_x = gb_malloc((size_t)(n * D) * sizeof(float)), *keep_z = gb_malloc((size_t)(n * K) * sizeof(float));
    float *keep_o = gb_malloc((size_t)n * sizeof(float));
    int64_t *geo = gb_malloc((size_t)(5 * n) * sizeof(int64_t)); /* apply, rh, rw, top, left */
    gb_status s = keep_x && keep_z && keep_o && geo ? GB_OK : GB_ERR_NOMEM;
    if (!s) {
        memcpy(keep_x, w->x.data, (size_t)(n * D) * sizeof(float));
        memcpy(keep_z, w->logits, (size_t)(n * K) * sizeof(float));
        memcpy(keep_o, w->obj, (size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++) {
            int64_t *g = geo + 5 * j;
            g[0] = gb_rng_uniform(rng) < prob;
            if (!g[0]) continue;
            g[1] = di_size(H, rng);
            g[2] = W == H ? g[1] : di_size(W, rng);
            g[3] = (int64_t)gb_rng_below(rng, (uint32_t)(H - g[1] + 1));
            g[4] = (int64_t)gb_rng_below(rng, (uint32_t)(W - g[2] + 1));
            gb_di_resize_pad_forward(keep_x + j * D, C, H, W, g[1], g[2], g[3], g[4], w->x.data + j * D);
        }
        s = gb_atk_eval(w, loss, kappa, 1);
    }
    if (!s) {
        /* Gradient at T(x) back to x: T's transpose (into keep_x, reused). */
        for (int64_t j = 0; j < n; j++) {
            const int64_t *g = geo + 5 * j;
            if (!g[0]) continue;
            float *dx = w->x.data + j * D; /* scratch: the row's T(x) is spent */
            memset(dx, 0, (size_t)D * sizeof(float));
            gb_di_resize_pad_backward(w->grad + j * D, C, H, W, g[1], g[2], g[3], g[4], dx);
            memcpy(w->grad + j * D, dx, (size_t)D * sizeof(float));
        }
        memcpy(w->x.data, keep_x, (size_t)(n * D) * sizeof(float));
        memcpy(w->logits, keep_z, (size_t)(n * K) * sizeof(float));
        memcpy(w->obj, keep_o, (size_t)n * sizeof(float));
    } else if (keep_x) {
        memcpy(w->x.data, keep_x, (size_t)(n * D) * sizeof(float));
    }
    gb_free(keep_x);
    gb_free(keep_z);
    gb_free(keep_o);
    gb_free(geo);
    return s;
}

int gb_ti_kernel(int k, float *w) {
    if (k < 1) k = 1;
    if (k % 2 == 0) k++;
    double sum = 0;
    for (int i = 0; i < k; i++) {
        double t = k == 1 ? 0 : -3.0 + 6.0 * i / (k - 1);
        w[i] = (float)exp(-0.5 * t * t);
        sum += w[i];
    }
    for (int i = 0; i < k; i++) w[i] = (float)(w[i] / sum);
    return k;
}

void gb_ti_smooth(float *g, int64_t C, int64_t H, int64_t W, int k, float *scratch) {
    float w[GB_TI_MAX_KERNEL];
    k = gb_ti_kernel(GB_MIN(k, GB_TI_MAX_KERNEL), w);
    const int r = k / 2;
    for (int64_t c = 0; c < C; c++) {
        float *p = g + c * H * W;
        for (int64_t i = 0; i < H; i++) /* rows */
            for (int64_t j = 0; j < W; j++) {
                double v = 0;
                for (int t = -r; t <= r; t++)
                    if (j + t >= 0 && j + t < W) v += (double)w[t + r] * p[i * W + j + t];
                scratch[i * W + j] = (float)v;
            }
        for (int64_t i = 0; i < H; i++) /* columns */
            for (int64_t j = 0; j < W; j++) {
                double v = 0;
                for (int t = -r; t <= r; t++)
                    if (i + t >= 0 && i + t < H) v += (double)w[t + r] * scratch[(i + t) * W + j];
                p[i * W + j] = (float)v;
            }
    }
}
