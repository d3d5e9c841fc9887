/* defenses.h — kernels of the input transformations (src/defenses/),
 * shared by their graph ops and by the feature-squeezing detector, plus the
 * statistics behind randomized smoothing. Every kernel works on one image
 * plane (H, W) of floats in [0,1]; channels are treated independently. */
#ifndef GB_DEFENSES_H
#define GB_DEFENSES_H

#include "internal.h"

/* Output shape = input shape, rank >= 2 (planes are the last two axes). */
gb_status gb_defense_infer_planes(gb_node *n, const gb_value *const *in, gb_tensor **out);

/* ---- JPEG-style quantization (quantize.c) --------------------------------- */

/* The standard luminance table (ITU T.81, Annex K.1) scaled for a quality in
 * [1, 100] as libjpeg does (jcparam.c's jpeg_quality_scaling). */
void gb_jpeg_table(int quality, float q[64]);
/* y (H, W) = x after 8x8 block DCT, rounding every coefficient to a multiple
 * of its q entry, inverse DCT and rounding to 8-bit levels. Edge blocks are
 * completed by replicating the last row/column, as JPEG encoders do. */
void gb_jpeg_plane(float *y, const float *x, int64_t H, int64_t W, const float q[64]);
/* Bit-depth reduction (Xu et al. 2018): round(x (2^bits - 1)) / (2^bits - 1),
 * x clamped to [0,1] first. n values. */
void gb_bits_apply(float *y, const float *x, int64_t n, int bits);

/* ---- median filter (median.c) ----------------------------------------------- */

/* k x k median (k in [2, GB_MEDIAN_MAX]) with scipy.ndimage's conventions
 * (Xu et al. filtered with scipy.ndimage.median_filter): window offsets
 * [-(k/2), k-1-k/2] on both axes, "reflect" borders (d c b a | a b c d), the
 * element of rank k*k/2 in sorted order (the upper median when k is even). arg (H, W; may be
 * NULL) receives the plane index of the chosen pixel, for the backward. */
#define GB_MEDIAN_MAX 7
void gb_median_plane(float *y, float *arg, const float *x, int64_t H, int64_t W, int k);

/* ---- random resize and pad (resize_pad.c) --------------------------------------- */

/* One draw for one image: resized to rh x rw (the same random scale s in
 * [ratio, 1] on both axes), placed at (top, left) in an H x W zero canvas. */
typedef struct gb_rp_draw {
    int64_t rh, rw, top, left;
} gb_rp_draw;
gb_rp_draw gb_resize_pad_draw(gb_rng *r, float ratio, int64_t H, int64_t W);
void gb_resize_pad_plane(float *y, const float *x, int64_t H, int64_t W, gb_rp_draw d);
/* dx += d y / d x applied to dy (the bilinear weights scattered back). */
void gb_resize_pad_plane_backward(float *dx, const float *dy, int64_t H, int64_t W, gb_rp_draw d);

/* ---- statistics for randomized smoothing (stats.c) --------------------------------- */

/* Regularized incomplete beta function I_x(a, b), a, b > 0, x in [0,1]. */
double gb_beta_inc(double a, double b, double x);
/* Its inverse in x: the x with I_x(a, b) = p. */
double gb_beta_inc_inv(double a, double b, double p);
/* Standard normal CDF and its inverse (quantile) for p in (0, 1). */
double gb_normal_cdf(double z);
double gb_normal_quantile(double p);
/* One-sided (1 - alpha) Clopper-Pearson lower bound on a binomial
 * proportion from k successes in n trials. */
double gb_clopper_pearson_lower(int64_t k, int64_t n, double alpha);
/* Two-sided exact binomial test p-value of k successes in n trials under
 * probability 1/2 (scipy.stats.binom_test(k, n, 0.5)). */
double gb_binom_test_half(int64_t k, int64_t n);

#endif
