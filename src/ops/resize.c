/* resize.c — ONNX Resize (opsets 10-18) and Upsample (opsets 7-9): nearest
 * and (n-)linear interpolation over any axes, forward and backward.
 *
 * Each output coordinate o on an axis of input length L maps back to
 *   half_pixel          (o + 0.5) / s - 0.5        (the default since opset 11)
 *   pytorch_half_pixel  the same, 0 when the output length is 1
 *   align_corners       o (L - 1) / (L s - 1)
 *   asymmetric          o / s                      (Upsample and Resize-10)
 *   tf_half_pixel_for_nn (o + 0.5) / s
 * where s is the given scale, or out / L when sizes are given. Nearest picks
 * one index (nearest_mode round_prefer_floor/ceil, floor, ceil; Upsample and
 * Resize-10 floor); linear takes floor(x) and floor(x) + 1 with weights
 * 1 - f and f, indices clamped to the edge. The output is the weighted sum
 * over the 2^k corners of the k interpolated axes; backward scatters dy with
 * the same weights. Cubic and tf_crop_and_resize are refused.
 */
#include "internal.h"

#include <math.h>

enum { RS_NEAREST, RS_LINEAR };
enum { CT_HALF_PIXEL, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC, CT_TF_HALF_PIXEL_NN };
enum { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL };

/* p.mode packs interpolation | coordinate mode << 4 | nearest mode << 8. */
#define RS_INTERP(p) ((p).mode & 15)
#define RS_COORD(p) (((p).mode >> 4) & 15)
#define RS_NEAREST_MODE(p) (((p).mode >> 8) & 15)

static int pick(const char *s, const char *const *names, int count) {
    for (int i = 0; i < count; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

static gb_status resize_init(gb_node *n) {
    const char *mode, *coord, *nearest;
    int old = strcmp(n->op_type, "Upsample") == 0 || n->opset < 11;
    GB_TRY(gb_attr_string(n, "mode", &mode));
    GB_TRY(gb_attr_string(n, "coordinate_transformation_mode", &coord));
    GB_TRY(gb_attr_string(n, "nearest_mode", &nearest));
    static const char *const modes[] = {"nearest", "linear", "bilinear"};
    static const char *const coords[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                         "asymmetric", "tf_half_pixel_for_nn"};
    static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    int m = mode ? pick(mode, modes, 3) : RS_NEAREST;
    int c = coord ? pick(coord, coords, 5) : (old ? CT_ASYMMETRIC : CT_HALF_PIXEL);
    int nm = nearest ? pick(nearest, nearests, 4) : (old ? NM_FLOOR : NM_ROUND_PREFER_FLOOR);
    if (m < 0 || c < 0 || nm < 0)
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): mode '%s', coordinate_transformation_mode '%s', nearest_mode '%s': not supported",
                        n->name, n->op_type, mode ? mode : "", coord ? coord : "", nearest ? nearest : "");
    int64_t antialias;
    GB_TRY(gb_attr_int(n, "antialias", 0, &antialias));
    if (antialias || gb_node_attr(n, "axes"))
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): antialias and axes are not supported",
                        n->name, n->op_type);
    n->p.mode = (m == 2 ? RS_LINEAR : m) | c << 4 | nm << 8;
    return GB_OK;
}

static gb_status resize_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    int r = x->ndim;
    const gb_value *scales = NULL, *sizes = NULL;
    const gb_attr *sa = NULL;
    if (strcmp(n->op_type, "Upsample") == 0) {
        if (n->nin > 1 && in[1]) scales = in[1];
        else if (!(sa = gb_node_attr(n, "scales")) || sa->type != GB_ATTR_FLOATS)
            return gb_error(GB_ERR_FORMAT, "Upsample needs scales");
    } else if (n->opset < 11) {
        scales = n->nin > 1 ? in[1] : NULL;
    } else {
        scales = n->nin > 2 && in[2] && in[2]->t.size > 0 ? in[2] : NULL;
        sizes = n->nin > 3 && in[3] && in[3]->t.size > 0 ? in[3] : NULL;
    }
    if (!scales && !sizes && !sa) return gb_error(GB_ERR_FORMAT, "%s needs scales or sizes", n->op_type);
    int64_t ys[GB_MAX_DIMS];
    if (sizes) {
        int cnt;
        GB_TRY(gb_value_ints(sizes, "sizes", ys, GB_MAX_DIMS, &cnt));
        if (cnt != r) return gb_error(GB_ERR_SHAPE, "%d sizes for an input of rank %d", cnt, r);
        for (int d = 0; d < r; d++) {
            if (ys[d] < 1) return gb_error(GB_ERR_SHAPE, "size %lld", (long long)ys[d]);
            n->p.fv[d] = x->shape[d] ? (float)((double)ys[d] / (double)x->shape[d]) : 1;
        }
    } else {
        if (scales && !gb_value_known(scales))
            return gb_error(GB_ERR_UNSUPPORTED, "scales must be constants or computed from shapes");
        int cnt = sa ? sa->n : (int)scales->t.size;
        if (cnt != r) return gb_error(GB_ERR_SHAPE, "%d scales for an input of rank %d", cnt, r);
        for (int d = 0; d < r; d++) {
            float s = sa ? sa->floats[d] : scales->t.data[d];
            if (!(s > 0 && s < 1e6f)) return gb_error(GB_ERR_SHAPE, "scale %g", (double)s);
            n->p.fv[d] = s;
            ys[d] = (int64_t)floor((double)x->shape[d] * s);
        }
    }
    return gb_tensor_resize(out[0], r, ys);
}

/* Source coordinate of output index o on an axis: input length L, scale s,
 * out = L s (not rounded: the ONNX reference uses the exact product). */
static double src_coord(int coord, int64_t o, int64_t L, double out, double s) {
    switch (coord) {
    case CT_PYTORCH_HALF_PIXEL: return out > 1 ? (o + 0.5) / s - 0.5 : 0;
    case CT_ALIGN_CORNERS: return out > 1 ? (double)o * (double)(L - 1) / (out - 1) : 0;
    case CT_ASYMMETRIC: return o / s;
    case CT_TF_HALF_PIXEL_NN: return (o + 0.5) / s;
    default: return (o + 0.5) / s - 0.5;
    }
}

static int64_t nearest_index(int nm, double x) {
    double f = floor(x);
    switch (nm) {
    case NM_FLOOR: return (int64_t)f;
    case NM_CEIL: return (int64_t)ceil(x);
    case NM_ROUND_PREFER_CEIL: return x - f == 0.5 ? (int64_t)f + 1 : (int64_t)floor(x + 0.5);
    default: return x - f == 0.5 ? (int64_t)f : (int64_t)floor(x + 0.5);
    }
}

/* Runs Resize forward (dx == NULL) or backward. */
static void resize_run(const gb_node *n, const gb_tensor *x, const gb_tensor *y, float *yv,
                       float *dx, const float *dy) {
    int r = x->ndim, interp = RS_INTERP(n->p), coord = RS_COORD(n->p), nm = RS_NEAREST_MODE(n->p);
    int64_t xst[GB_MAX_DIMS], ctr[GB_MAX_DIMS] = {0}, s = 1;
    for (int d = r - 1; d >= 0; d--) xst[d] = s, s *= x->shape[d];
    for (int64_t i = 0; i < y->size; i++) {
        int64_t lo[GB_MAX_DIMS], hi[GB_MAX_DIMS];
        float w[GB_MAX_DIMS];
        int lin[GB_MAX_DIMS], k = 0;
        int64_t base = 0;
        for (int d = 0; d < r; d++) {
            int64_t L = x->shape[d];
            double c = src_coord(coord, ctr[d], L, (double)L * n->p.fv[d], n->p.fv[d]);
            if (interp == RS_NEAREST) {
                int64_t j = nearest_index(nm, c);
                base += GB_MIN(GB_MAX(j, 0), L - 1) * xst[d];
                continue;
            }
            double f = floor(c);
            int64_t a = (int64_t)f;
            float t = (float)(c - f);
            lo[d] = GB_MIN(GB_MAX(a, 0), L - 1);
            hi[d] = GB_MIN(GB_MAX(a + 1, 0), L - 1);
            if (t == 0 || lo[d] == hi[d]) {
                base += lo[d] * xst[d];
            } else {
                w[d] = t;
                lin[k++] = d;
            }
        }
        float acc = 0;
        for (int mask = 0; mask < (1 << k); mask++) {
            int64_t off = base;
            float wt = 1;
            for (int b = 0; b < k; b++) {
                int d = lin[b];
                if (mask >> b & 1) off += hi[d] * xst[d], wt *= w[d];
                else off += lo[d] * xst[d], wt *= 1 - w[d];
            }
            if (dx) dx[off] += wt * dy[i];
            else acc += wt * x->data[off];
        }
        if (!dx) yv[i] = acc;
        for (int d = r - 1; d >= 0; d--) {
            if (++ctr[d] < y->shape[d]) break;
            ctr[d] = 0;
        }
    }
}

static void resize_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                           const gb_exec *ex) {
    (void)ex;
    resize_run(n, in[0], out[0], out[0]->data, NULL, NULL);
}

static void resize_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                            gb_tensor *const *din, const gb_tensor *const *dout,
                            const gb_exec *ex) {
    (void)ex;
    if (din[0]) resize_run(n, in[0], out[0], NULL, din[0]->data, dout[0]->data);
}

const gb_op_def gb_opdef_RESIZE = {"Resize", 1, 4, 1, resize_init, resize_infer, resize_forward,
                                   resize_backward};
const gb_op_def gb_opdef_UPSAMPLE = {"Upsample", 1, 2, 1, resize_init, resize_infer,
                                     resize_forward, resize_backward};
