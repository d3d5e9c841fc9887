/* transforms.h — the kernels behind gb_tf_pipeline and the patch paste, one
 * example at a time on (C, H, W) planes, so callers parallelize over the
 * batch. Forward and backward of each live side by side in one file:
 *   warp.c         bilinear sampling through a homography, patch pasting
 *   homography.c   3x3 matrices: compose, invert, fit to four corners
 *   photometric.c  print gamut, gain/bias, gamma, noise, clamp
 *   blur.c         separable Gaussian blur with clamped edges
 * Elementwise stages work in place (forward on the image, backward on the
 * gradient); the linear ones need nothing saved, gamma and clamp read the
 * input they saw. */
#ifndef GB_TRANSFORMS_H
#define GB_TRANSFORMS_H

#include "internal.h"

/* ---- homography.c ---- */
void gb_mat3_identity(float m[9]);
void gb_mat3_mul(const float a[9], const float b[9], float out[9]); /* out = a * b */
/* Inverse in double precision; returns 0 when singular (out untouched). */
int gb_mat3_inverse(const float m[9], float out[9]);
/* The homography mapping src[k] to dst[k] (k = 0..3, points as x,y pairs);
 * returns 0 when the points are degenerate. */
int gb_mat3_from_corners(const float src[8], const float dst[8], float out[9]);

/* ---- warp.c ---- */
/* out (C, ho, wo) = in (C, hi, wi) sampled bilinearly at hinv * (j+0.5, i+0.5, 1);
 * taps outside the source read 0. */
void gb_warp_forward(float *out, int ho, int wo, const float *in, int hi, int wi, int c,
                     const float hinv[9]);
/* din (C, hi, wi) += W^T dout (C, ho, wo). */
void gb_warp_backward(float *din, int hi, int wi, const float *dout, int ho, int wo, int c,
                      const float hinv[9]);

/* ---- photometric.c (x or g is one example, C*H*W values) ---- */
void gb_gamut_forward(float *x, int c, int64_t hw, float strength);
void gb_gamut_backward(float *g, int c, int64_t hw, float strength);
void gb_gain_forward(float *x, int c, int64_t hw, const float gain[3], const float bias[3]);
void gb_gain_backward(float *g, int c, int64_t hw, const float gain[3]);
/* Gamma floors its input at GB_GAMMA_FLOOR (zero gradient below). */
#define GB_GAMMA_FLOOR 1e-3f
void gb_gamma_forward(float *x, int64_t n, float gamma);
void gb_gamma_backward(float *g, const float *x_in, int64_t n, float gamma);
/* Adds std * N(0,1) drawn from seed (same seed, same noise); backward is the identity. */
void gb_noise_forward(float *x, int64_t n, float std, uint64_t seed);
void gb_clamp01_forward(float *x, int64_t n);
/* Passes the gradient where 0 <= x_in <= 1: a value resting on the box
 * edge (black background) can still move inwards. */
void gb_clamp01_backward(float *g, const float *x_in, int64_t n);

/* ---- blur.c ---- */
#define GB_BLUR_MAX_SIGMA 4.0f
/* In place on (C, H, W); scratch holds H*W floats. */
void gb_blur_forward(float *x, int c, int h, int w, float sigma, float *scratch);
void gb_blur_backward(float *g, int c, int h, int w, float sigma, float *scratch);

#endif
