/* warp.c — bilinear resampling through a homography (the spatial
 * transformer's sampler, Jaderberg et al. 2015, eq. 5, with zero padding),
 * forward and backward side by side, and the adversarial-patch paste built
 * on it (Brown et al. 2017): y = (1 - W(m)) x + W(m * p). Both are linear in
 * the image and in the patch, so backward needs only the sampling
 * positions, which it recomputes. */
#include "transforms/transforms.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* The four taps of output pixel (i, j): top-left source index and weights.
 * Returns 0 when the point maps behind the camera (no taps). */
static inline int taps(const float hinv[9], int i, int j, int *x0, int *y0, float *fx, float *fy) {
    float u = j + 0.5f, v = i + 0.5f;
    float z = hinv[6] * u + hinv[7] * v + hinv[8];
    if (!(z > 1e-6f)) return 0;
    float sx = (hinv[0] * u + hinv[1] * v + hinv[2]) / z - 0.5f;
    float sy = (hinv[3] * u + hinv[4] * v + hinv[5]) / z - 0.5f;
    if (!(sx > -2.0f && sy > -2.0f && sx < 1e6f && sy < 1e6f)) return 0;
    float fl = floorf(sx), ft = floorf(sy);
    *x0 = (int)fl;
    *y0 = (int)ft;
    *fx = sx - fl;
    *fy = sy - ft;
    return 1;
}

/* Tap k (0..3: tl, tr, bl, br) of (x0, y0): flat index in an h x w plane, or -1 outside. */
static inline int64_t tap_index(int k, int x0, int y0, int h, int w) {
    int x = x0 + (k & 1), y = y0 + (k >> 1);
    return (x < 0 || y < 0 || x >= w || y >= h) ? -1 : (int64_t)y * w + x;
}

static inline float tap_weight(int k, float fx, float fy) {
    return ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
}

void gb_warp_forward(float *out, int ho, int wo, const float *in, int hi, int wi, int c,
                     const float hinv[9]) {
    const int64_t po = (int64_t)ho * wo, pi = (int64_t)hi * wi;
    for (int i = 0; i < ho; i++)
        for (int j = 0; j < wo; j++) {
            int x0, y0;
            float fx, fy;
            int64_t o = (int64_t)i * wo + j;
            for (int ch = 0; ch < c; ch++) out[ch * po + o] = 0;
            if (!taps(hinv, i, j, &x0, &y0, &fx, &fy)) continue;
            for (int k = 0; k < 4; k++) {
                int64_t s = tap_index(k, x0, y0, hi, wi);
                if (s < 0) continue;
                float wt = tap_weight(k, fx, fy);
                for (int ch = 0; ch < c; ch++) out[ch * po + o] += wt * in[ch * pi + s];
            }
        }
}

void gb_warp_backward(float *din, int hi, int wi, const float *dout, int ho, int wo, int c,
                      const float hinv[9]) {
    const int64_t po = (int64_t)ho * wo, pi = (int64_t)hi * wi;
    for (int i = 0; i < ho; i++)
        for (int j = 0; j < wo; j++) {
            int x0, y0;
            float fx, fy;
            if (!taps(hinv, i, j, &x0, &y0, &fx, &fy)) continue;
            int64_t o = (int64_t)i * wo + j;
            for (int k = 0; k < 4; k++) {
                int64_t s = tap_index(k, x0, y0, hi, wi);
                if (s < 0) continue;
                float wt = tap_weight(k, fx, fy);
                for (int ch = 0; ch < c; ch++) din[ch * pi + s] += wt * dout[ch * po + o];
            }
        }
}

/* ---- the patch paste ---- */

static gb_status check_paste(const gb_tensor *x, const gb_tensor *patch, const float *mask) {
    if (x->ndim != 4) return gb_error(GB_ERR_SHAPE, "patch paste: images must be (N, C, H, W)");
    if (patch->ndim != 3 || patch->shape[0] != x->shape[1] || patch->shape[1] != patch->shape[2])
        return gb_error(GB_ERR_SHAPE, "patch paste: patch must be (C, P, P) with the images' %lld channels",
                        (long long)x->shape[1]);
    if (!mask) return gb_error(GB_ERR_ARG, "patch paste: no mask");
    return GB_OK;
}

/* Per output pixel: w(m) and, per channel, W(m * p). */
static inline float paste_pixel(const gb_tensor *patch, const float *mask, const float hinv[9], int i,
                                int j, float *mp /* C */) {
    const int C = (int)patch->shape[0], P = (int)patch->shape[1];
    const int64_t pp = (int64_t)P * P;
    int x0, y0;
    float fx, fy, wm = 0;
    for (int ch = 0; ch < C; ch++) mp[ch] = 0;
    if (!taps(hinv, i, j, &x0, &y0, &fx, &fy)) return 0;
    for (int k = 0; k < 4; k++) {
        int64_t s = tap_index(k, x0, y0, P, P);
        if (s < 0) continue;
        float wt = tap_weight(k, fx, fy) * mask[s];
        wm += wt;
        for (int ch = 0; ch < C; ch++) mp[ch] += wt * patch->data[ch * pp + s];
    }
    return wm;
}

gb_status gb_patch_paste_forward(const gb_tensor *x, const gb_tensor *patch, const float *mask,
                                 const float *hinv, gb_tensor *y) {
    GB_TRY(check_paste(x, patch, mask));
    if (y != x && !gb_tensor_same_shape(y, x)) GB_TRY(gb_tensor_resize(y, x->ndim, x->shape));
    const int64_t N = x->shape[0];
    const int C = (int)x->shape[1], H = (int)x->shape[2], W = (int)x->shape[3];
    const int64_t hw = (int64_t)H * W;
    if (C > GB_MAX_CHANNELS) return gb_error(GB_ERR_SHAPE, "patch paste: more than %d channels", GB_MAX_CHANNELS);
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const float *xn = x->data + n * C * hw;
        float *yn = y->data + n * C * hw, mp[GB_MAX_CHANNELS];
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                float wm = paste_pixel(patch, mask, hinv + 9 * n, i, j, mp);
                int64_t o = (int64_t)i * W + j;
                for (int ch = 0; ch < C; ch++) yn[ch * hw + o] = (1 - wm) * xn[ch * hw + o] + mp[ch];
            }
    }
    return GB_OK;
}

gb_status gb_patch_paste_backward(const gb_tensor *dy, const gb_tensor *patch, const float *mask,
                                  const float *hinv, gb_tensor *dx, gb_tensor *dpatch) {
    GB_TRY(check_paste(dy, patch, mask));
    if (dx && !gb_tensor_same_shape(dx, dy))
        return gb_error(GB_ERR_SHAPE, "patch paste backward: dx must have the images' shape");
    if (dpatch && !gb_tensor_same_shape(dpatch, patch))
        return gb_error(GB_ERR_SHAPE, "patch paste backward: dpatch must have the patch's shape");
    const int64_t N = dy->shape[0];
    const int C = (int)dy->shape[1], H = (int)dy->shape[2], W = (int)dy->shape[3];
    const int P = (int)patch->shape[1];
    const int64_t hw = (int64_t)H * W, pp = (int64_t)P * P, psize = C * pp;
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            float mp[GB_MAX_CHANNELS];
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    float wm = paste_pixel(patch, mask, hinv + 9 * n, i, j, mp);
                    int64_t o = (int64_t)i * W + j;
                    for (int ch = 0; ch < C; ch++)
                        dx->data[(n * C + ch) * hw + o] += (1 - wm) * dy->data[(n * C + ch) * hw + o];
                }
        }
    }
    if (!dpatch) return GB_OK;
    /* The patch is shared by the batch: each thread sums its (static, so
     * repeatable) share of examples, then the partial sums are added in
     * thread order. */
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    float *part = gb_calloc((size_t)nt * (size_t)psize, sizeof *part);
    if (!part) return GB_ERR_NOMEM;
#pragma omp parallel num_threads(nt)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        float *acc = part + (int64_t)t * psize;
#pragma omp for schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    int x0, y0;
                    float fx, fy;
                    if (!taps(hinv + 9 * n, i, j, &x0, &y0, &fx, &fy)) continue;
                    int64_t o = (int64_t)i * W + j;
                    for (int k = 0; k < 4; k++) {
                        int64_t s = tap_index(k, x0, y0, P, P);
                        if (s < 0) continue;
                        float wt = tap_weight(k, fx, fy) * mask[s];
                        for (int ch = 0; ch < C; ch++) acc[ch * pp + s] += wt * dy->data[(n * C + ch) * hw + o];
                    }
                }
    }
    for (int t = 0; t < nt; t++)
        for (int64_t k = 0; k < psize; k++) dpatch->data[k] += part[(int64_t)t * psize + k];
    gb_free(part);
    return GB_OK;
}

/* A centre for the patch inside region (h * w, values >= 0.5): rejection
 * sampling of pixels (objects cover a good part of the image, so a few tries
 * do), then uniform within the pixel. Returns 0 when no pixel qualifies. */
static int region_centre(int h, int w, const float *region, gb_rng *rng, float *cx, float *cy) {
    for (int t = 0; t < 4096; t++) {
        uint32_t k = gb_rng_below(rng, (uint32_t)(h * w));
        if (region[k] >= 0.5f) {
            *cx = (float)(k % (uint32_t)w) + gb_rng_uniform(rng);
            *cy = (float)(k / (uint32_t)w) + gb_rng_uniform(rng);
            return 1;
        }
    }
    /* Tiny regions: the first pixel of the largest value, if it qualifies. */
    int best = 0;
    for (int k = 1; k < h * w; k++)
        if (region[k] > region[best]) best = k;
    if (region[best] < 0.5f) return 0;
    *cx = (float)(best % w) + 0.5f, *cy = (float)(best / w) + 0.5f;
    return 1;
}

void gb_patch_placement_in(int h, int w, int P, float area, float jitter, float max_rot, const float *region,
                           gb_rng *rng, float hinv[9]) {
    float side = sqrtf(area * (float)h * (float)w) * (1 + jitter * (2 * gb_rng_uniform(rng) - 1));
    float th = max_rot * (2 * gb_rng_uniform(rng) - 1) * 3.14159265f / 180.0f;
    float half = 0.5f * side, cx, cy;
    if (region && region_centre(h, w, region, rng, &cx, &cy)) {
        cx = w > side ? fminf(fmaxf(cx, half), (float)w - half) : 0.5f * w;
        cy = h > side ? fminf(fmaxf(cy, half), (float)h - half) : 0.5f * h;
    } else {
        cx = w > side ? half + gb_rng_uniform(rng) * (w - side) : 0.5f * w;
        cy = h > side ? half + gb_rng_uniform(rng) * (h - side) : 0.5f * h;
    }
    /* Forward map patch -> image: T(c) R(th) S(side/P) T(-P/2); hinv is its inverse in closed form. */
    float s = P / side, co = cosf(th), si = sinf(th);
    float a = s * co, b = s * si;
    /* (u, v) image -> patch: P/2 + s R(-th) ((u, v) - c) */
    hinv[0] = a, hinv[1] = b, hinv[2] = 0.5f * P - a * cx - b * cy;
    hinv[3] = -b, hinv[4] = a, hinv[5] = 0.5f * P + b * cx - a * cy;
    hinv[6] = 0, hinv[7] = 0, hinv[8] = 1;
}

void gb_patch_placement(int h, int w, int P, float area, float jitter, float max_rot, gb_rng *rng,
                        float hinv[9]) {
    gb_patch_placement_in(h, w, P, area, jitter, max_rot, NULL, rng, hinv);
}
