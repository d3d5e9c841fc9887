/* photometric.c — the colour stages of a physical transformation, forward
 * and backward side by side, in place on one example (C, H, W):
 *  - print gamut: printers reproduce neither saturated colours nor full black
 *    and white (Sharif et al. 2016, sec. 4.3; Kurakin et al. 2017, sec. 3),
 *    so y_c = lo + (hi - lo) (s x_c + (1 - s) mean_c x) with s = 1 - 0.35 S,
 *    lo = 0.06 S, hi = 1 - 0.10 S for strength S;
 *  - gain/bias per channel (contrast, brightness, exposure, colour cast);
 *  - gamma y = max(x, floor)^g; additive Gaussian noise; clamp to [0,1]. */
#include "transforms/transforms.h"

#include <math.h>

static void gamut_coeffs(float S, float *s, float *lo, float *range) {
    *s = 1 - 0.35f * S;
    *lo = 0.06f * S;
    *range = 1 - 0.10f * S - *lo;
}

void gb_gamut_forward(float *x, int c, int64_t hw, float strength) {
    float s, lo, r;
    gamut_coeffs(strength, &s, &lo, &r);
    for (int64_t i = 0; i < hw; i++) {
        float mean = 0;
        for (int ch = 0; ch < c; ch++) mean += x[ch * hw + i];
        mean /= (float)c;
        for (int ch = 0; ch < c; ch++) x[ch * hw + i] = lo + r * (s * x[ch * hw + i] + (1 - s) * mean);
    }
}

void gb_gamut_backward(float *g, int c, int64_t hw, float strength) {
    float s, lo, r;
    gamut_coeffs(strength, &s, &lo, &r);
    for (int64_t i = 0; i < hw; i++) {
        float sum = 0;
        for (int ch = 0; ch < c; ch++) sum += g[ch * hw + i];
        for (int ch = 0; ch < c; ch++) g[ch * hw + i] = r * (s * g[ch * hw + i] + (1 - s) * sum / (float)c);
    }
}

void gb_gain_forward(float *x, int c, int64_t hw, const float gain[3], const float bias[3]) {
    for (int ch = 0; ch < c; ch++) {
        int k = c == 3 ? ch : 0;
        for (int64_t i = 0; i < hw; i++) x[ch * hw + i] = gain[k] * x[ch * hw + i] + bias[k];
    }
}

void gb_gain_backward(float *g, int c, int64_t hw, const float gain[3]) {
    for (int ch = 0; ch < c; ch++) {
        int k = c == 3 ? ch : 0;
        for (int64_t i = 0; i < hw; i++) g[ch * hw + i] *= gain[k];
    }
}

void gb_gamma_forward(float *x, int64_t n, float gamma) {
    for (int64_t i = 0; i < n; i++) x[i] = powf(fmaxf(x[i], GB_GAMMA_FLOOR), gamma);
}

void gb_gamma_backward(float *g, const float *x_in, int64_t n, float gamma) {
    for (int64_t i = 0; i < n; i++)
        g[i] = x_in[i] > GB_GAMMA_FLOOR ? g[i] * gamma * powf(x_in[i], gamma - 1) : 0.0f;
}

void gb_noise_forward(float *x, int64_t n, float std, uint64_t seed) {
    gb_rng r;
    gb_rng_seed(&r, seed, 0x6e6f697365ULL);
    for (int64_t i = 0; i < n; i++) x[i] += std * gb_rng_normal(&r);
}

void gb_clamp01_forward(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = fminf(fmaxf(x[i], 0.0f), 1.0f);
}

void gb_clamp01_backward(float *g, const float *x_in, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!(x_in[i] >= 0.0f && x_in[i] <= 1.0f)) g[i] = 0;
}
