/* quantize.c — the two quantizing input transformations, as graph ops that
 * sit in front of a model (gb_model_add_defense):
 *  - GibbonJpeg: JPEG-style compression of each channel plane (Das et al.
 *    2017, Guo et al. 2018 used real JPEG as a defense): 8x8 blocks, the
 *    orthonormal DCT-II, every coefficient rounded to a multiple of the
 *    standard luminance table scaled by the quality factor (ITU T.81 Annex
 *    K.1, libjpeg's scaling), inverse DCT, 8-bit output levels. No chroma
 *    subsampling or colour transform: each channel is a luminance plane.
 *  - GibbonBitDepth: bit-depth reduction to k bits (Xu et al. 2018, "Feature
 *    squeezing").
 * Both outputs are piecewise constant in the input, so their true derivative
 * is zero almost everywhere: with the default backward a gradient attack sees
 * no gradient at all and "fails" — gradient masking, not robustness. With the
 * attribute bpda = 1 the backward is the identity instead, the
 * straight-through approximation of Athalye, Carlini & Wagner 2018 ("BPDA",
 * sec. 4.1), valid because both transforms keep x close to the input. */
#include "defenses.h"

#include <math.h>

static const int jpeg_luma[64] = {
    16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
    14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
    18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};

void gb_jpeg_table(int quality, float q[64]) {
    quality = GB_MAX(1, GB_MIN(100, quality));
    int scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
    for (int i = 0; i < 64; i++) {
        int v = (jpeg_luma[i] * scale + 50) / 100;
        q[i] = (float)GB_MAX(1, GB_MIN(255, v));
    }
}

/* A[u][x] = c(u) cos((2x + 1) u pi / 16): the orthonormal 8-point DCT-II
 * matrix, so F = A f A^T and f = A^T F A. */
static void dct_matrix(double A[8][8]) {
    const double pi = 3.14159265358979323846;
    for (int u = 0; u < 8; u++)
        for (int x = 0; x < 8; x++)
            A[u][x] = (u == 0 ? sqrt(1.0 / 8) : sqrt(2.0 / 8)) * cos((2 * x + 1) * u * pi / 16);
}

void gb_jpeg_plane(float *y, const float *x, int64_t H, int64_t W, const float q[64]) {
    double A[8][8], f[8][8], t[8][8], F[8][8];
    dct_matrix(A);
    for (int64_t by = 0; by < H; by += 8)
        for (int64_t bx = 0; bx < W; bx += 8) {
            for (int i = 0; i < 8; i++)
                for (int j = 0; j < 8; j++) {
                    int64_t r = GB_MIN(by + i, H - 1), c = GB_MIN(bx + j, W - 1);
                    double v = fmin(fmax(x[r * W + c], 0.0), 1.0);
                    f[i][j] = 255.0 * v - 128.0; /* level shift, T.81 A.3.1 */
                }
            /* forward DCT: t = A f, F = t A^T */
            for (int u = 0; u < 8; u++)
                for (int j = 0; j < 8; j++) {
                    double s = 0;
                    for (int k = 0; k < 8; k++) s += A[u][k] * f[k][j];
                    t[u][j] = s;
                }
            for (int u = 0; u < 8; u++)
                for (int v = 0; v < 8; v++) {
                    double s = 0;
                    for (int k = 0; k < 8; k++) s += t[u][k] * A[v][k];
                    double qv = q[u * 8 + v];
                    F[u][v] = qv * nearbyint(s / qv); /* the lossy step */
                }
            /* inverse: t = A^T F, f = t A */
            for (int i = 0; i < 8; i++)
                for (int v = 0; v < 8; v++) {
                    double s = 0;
                    for (int k = 0; k < 8; k++) s += A[k][i] * F[k][v];
                    t[i][v] = s;
                }
            for (int i = 0; i < 8 && by + i < H; i++)
                for (int j = 0; j < 8 && bx + j < W; j++) {
                    double s = 0;
                    for (int k = 0; k < 8; k++) s += t[i][k] * A[k][j];
                    double level = fmin(fmax(nearbyint(s + 128.0), 0.0), 255.0);
                    y[(by + i) * W + bx + j] = (float)(level / 255.0);
                }
        }
}

void gb_bits_apply(float *y, const float *x, int64_t n, int bits) {
    const float L = (float)((1 << bits) - 1);
    for (int64_t i = 0; i < n; i++) y[i] = nearbyintf(fminf(fmaxf(x[i], 0.0f), 1.0f) * L) / L;
}

/* ---- the ops ---------------------------------------------------------------- */

/* p.mode: the quality or the bit count; p.group: 1 for the BPDA backward. */
static gb_status bpda_attr(gb_node *n) {
    GB_TRY(gb_attr_int(n, "bpda", 0, &n->p.group));
    if (n->p.group != 0 && n->p.group != 1)
        return gb_error(GB_ERR_FORMAT, "node '%s' (%s): bpda must be 0 or 1", n->name, n->op_type);
    return GB_OK;
}

static gb_status jpeg_init(gb_node *n) {
    int64_t q;
    GB_TRY(gb_attr_int(n, "quality", 75, &q));
    if (q < 1 || q > 100)
        return gb_error(GB_ERR_ARG, "node '%s' (%s): quality %lld outside [1, 100]", n->name, n->op_type,
                        (long long)q);
    n->p.mode = (int)q;
    return bpda_attr(n);
}

static gb_status bits_init(gb_node *n) {
    int64_t b;
    GB_TRY(gb_attr_int(n, "bits", 4, &b));
    if (b < 1 || b > 16)
        return gb_error(GB_ERR_ARG, "node '%s' (%s): bits %lld outside [1, 16]", n->name, n->op_type,
                        (long long)b);
    n->p.mode = (int)b;
    return bpda_attr(n);
}

/* Images (N, C, H, W) or anything of rank >= 2 (planes are the last two axes). */
static gb_status infer_planes(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    if (x->ndim < 2)
        return gb_error(GB_ERR_SHAPE, "node '%s' (%s): needs images (N, C, H, W), got rank %d", n->name,
                        n->op_type, x->ndim);
    return gb_tensor_resize(out[0], x->ndim, x->shape);
}

static void jpeg_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                         const gb_exec *ex) {
    (void)ex;
    const gb_tensor *x = in[0];
    const int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    const int64_t P = H * W, planes = P > 0 ? x->size / P : 0;
    float q[64];
    gb_jpeg_table(n->p.mode, q);
#pragma omp parallel for schedule(static) if (planes > 16)
    for (int64_t p = 0; p < planes; p++) gb_jpeg_plane(out[0]->data + p * H * W, x->data + p * H * W, H, W, q);
}

static void bits_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                         const gb_exec *ex) {
    (void)ex;
    gb_bits_apply(out[0]->data, in[0]->data, in[0]->size, n->p.mode);
}

/* The honest derivative (zero a.e.) adds nothing; BPDA passes dy through. */
static void quantize_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                              gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)out, (void)ex;
    if (!din[0] || !n->p.group) return;
    float *dx = din[0]->data;
    const float *dy = dout[0]->data;
    for (int64_t i = 0; i < in[0]->size; i++) dx[i] += dy[i];
}

const gb_op_def gb_opdef_DEF_JPEG = {"GibbonJpeg", 1, 1, 1, jpeg_init, infer_planes, jpeg_forward,
                                     quantize_backward};
const gb_op_def gb_opdef_DEF_BITS = {"GibbonBitDepth", 1, 1, 1, bits_init, infer_planes, bits_forward,
                                     quantize_backward};

/* Shared with median.c and resize_pad.c. */
gb_status gb_defense_infer_planes(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    return infer_planes(n, in, out);
}
