/* blur.c — Gaussian blur (a camera out of focus, a printer's dot spread),
 * separable: rows then columns, taps beyond the border read the edge pixel.
 * Backward applies the transposed passes in reverse order, scattering each
 * tap's weight back to the pixel it read (clamped edges included). */
#include "transforms/transforms.h"

#include <math.h>

#define MAX_RADIUS 12

static int kernel(float sigma, float *k) {
    int r = (int)ceilf(3 * sigma);
    if (r > MAX_RADIUS) r = MAX_RADIUS;
    if (r < 1) r = 1;
    double sum = 0;
    for (int t = -r; t <= r; t++) sum += k[t + r] = expf(-0.5f * t * t / (sigma * sigma));
    for (int t = 0; t <= 2 * r; t++) k[t] = (float)(k[t] / sum);
    return r;
}

static inline int clampi(int v, int n) { return v < 0 ? 0 : v >= n ? n - 1 : v; }

/* dst[i] = sum_t k[t] src[clamp(i + t)] along a line of n values at stride st. */
static void pass_forward(float *dst, const float *src, int n, int64_t st, const float *k, int r) {
    for (int i = 0; i < n; i++) {
        float acc = 0;
        for (int t = -r; t <= r; t++) acc += k[t + r] * src[clampi(i + t, n) * st];
        dst[i * st] = acc;
    }
}

/* The transpose: dsrc[clamp(i + t)] += k[t] ddst[i]; dsrc is zeroed first. */
static void pass_backward(float *dsrc, const float *ddst, int n, int64_t st, const float *k, int r) {
    for (int i = 0; i < n; i++) dsrc[i * st] = 0;
    for (int i = 0; i < n; i++)
        for (int t = -r; t <= r; t++) dsrc[clampi(i + t, n) * st] += k[t + r] * ddst[i * st];
}

void gb_blur_forward(float *x, int c, int h, int w, float sigma, float *scratch) {
    float k[2 * MAX_RADIUS + 1];
    int r = kernel(sigma, k);
    for (int ch = 0; ch < c; ch++) {
        float *p = x + (int64_t)ch * h * w;
        for (int i = 0; i < h; i++) pass_forward(scratch + (int64_t)i * w, p + (int64_t)i * w, w, 1, k, r);
        for (int j = 0; j < w; j++) pass_forward(p + j, scratch + j, h, w, k, r);
    }
}

void gb_blur_backward(float *g, int c, int h, int w, float sigma, float *scratch) {
    float k[2 * MAX_RADIUS + 1];
    int r = kernel(sigma, k);
    for (int ch = 0; ch < c; ch++) {
        float *p = g + (int64_t)ch * h * w;
        for (int j = 0; j < w; j++) pass_backward(scratch + j, p + j, h, w, k, r);
        for (int i = 0; i < h; i++) pass_backward(p + (int64_t)i * w, scratch + (int64_t)i * w, w, 1, k, r);
    }
}
