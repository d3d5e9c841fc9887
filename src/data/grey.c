/* grey.c — colour images in the form of Fashion-MNIST (one grey channel,
 * small), so the synthetic signs can be shown to a Fashion-MNIST model as an
 * out-of-distribution set:
 *  - luma Y' = 0.299 R' + 0.587 G' + 0.114 B' (ITU-R BT.601, the weights of
 *    PIL's convert("L") and OpenCV's cvtColor), on the stored gamma-encoded
 *    values as those libraries do;
 *  - area resampling: an output pixel is the mean of the source over its
 *    footprint, a partly covered source pixel counting with the covered
 *    fraction (PIL's BOX filter). Shrinking 48 -> 28 by sampling (bilinear)
 *    would skip source pixels and alias thin strokes such as the digits. */
#include "internal.h"

#include <math.h>

/* Area weights along one axis, n_in -> n_out: output k covers source
 * [k s, (k + 1) s) with s = n_in / n_out; w (n_out, n_in) row k holds each
 * source pixel's overlap with it divided by s, so every row sums to 1. */
static void area_weights(int n_in, int n_out, double *w) {
    const double s = (double)n_in / n_out;
    for (int k = 0; k < n_out; k++) {
        double a = k * s, b = (k + 1) * s;
        for (int p = 0; p < n_in; p++) {
            double o = fmin(b, p + 1.0) - fmax(a, (double)p);
            w[(size_t)k * n_in + p] = o > 0 ? o / s : 0;
        }
    }
}

gb_status gb_image_grey_resize(const float *chw, int c, int h, int w, float *out, int oh, int ow) {
    if (c != 1 && c != 3)
        return gb_error(GB_ERR_ARG, "greyscale: images must have 1 or 3 channels, not %d", c);
    if (h < 1 || w < 1 || oh < 1 || ow < 1 || h > 4096 || w > 4096 || oh > 4096 || ow > 4096)
        return gb_error(GB_ERR_ARG, "greyscale: sizes %dx%d -> %dx%d outside 1..4096", h, w, oh, ow);
    const size_t hw = (size_t)h * w;
    double *grey = gb_malloc(hw * sizeof *grey), *rows = gb_malloc((size_t)oh * w * sizeof *rows);
    double *wy = gb_malloc((size_t)oh * h * sizeof *wy), *wx = gb_malloc((size_t)ow * w * sizeof *wx);
    if (!grey || !rows || !wy || !wx) {
        gb_free(grey), gb_free(rows), gb_free(wy), gb_free(wx);
        return GB_ERR_NOMEM;
    }
    for (size_t k = 0; k < hw; k++) // (H, W)
        grey[k] = c == 1 ? chw[k] : 0.299 * chw[k] + 0.587 * chw[hw + k] + 0.114 * chw[2 * hw + k];
    area_weights(h, oh, wy);
    area_weights(w, ow, wx);
    for (int i = 0; i < oh; i++) // rows (OH, W), then columns (OH, OW): the filter is separable
        for (int j = 0; j < w; j++) {
            double s = 0;
            for (int p = 0; p < h; p++) s += wy[(size_t)i * h + p] * grey[(size_t)p * w + j];
            rows[(size_t)i * w + j] = s;
        }
    for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++) {
            double s = 0;
            for (int q = 0; q < w; q++) s += wx[(size_t)j * w + q] * rows[(size_t)i * w + q];
            out[(size_t)i * ow + j] = (float)s;
        }
    gb_free(grey), gb_free(rows), gb_free(wy), gb_free(wx);
    return GB_OK;
}

gb_status gb_signs_grey(const gb_signs_params *p, int64_t n, int size, gb_tensor **out) {
    *out = NULL;
    if (n < 1 || size < 1 || size > GB_SIGNS_MAX_SIZE || n > GB_MAX_ELEMENTS / ((int64_t)size * size))
        return gb_error(GB_ERR_ARG, "greyscale signs: %lld images of %dx%d out of range", (long long)n, size, size);
    const int S = p->size;
    if (S < 16 || S > GB_SIGNS_MAX_SIZE) /* before sizing the buffer; gb_sign_render checks the rest */
        return gb_error(GB_ERR_ARG, "signs: image size %d outside [16, %d]", S, GB_SIGNS_MAX_SIZE);
    float *rgb = gb_malloc((size_t)3 * S * S * sizeof *rgb);
    if (!rgb) return GB_ERR_NOMEM;
    gb_tensor *t = gb_tensor_new4(n, 1, size, size);
    gb_status s = t ? GB_OK : GB_ERR_NOMEM;
    /* One image at a time: the colour set is never held whole. */
    for (int64_t i = 0; !s && i < n; i++) {
        s = gb_sign_render(p, i, rgb, NULL);
        if (!s) s = gb_image_grey_resize(rgb, 3, S, S, t->data + i * size * size, size, size);
    }
    gb_free(rgb);
    if (s) {
        gb_tensor_free(t);
        return s;
    }
    *out = t;
    return GB_OK;
}
