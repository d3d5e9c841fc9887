/* window.h — the sliding-window geometry shared by Conv and the pools:
 * parsing kernel_shape/strides/pads/dilations/auto_pad and resolving the
 * output size. Formulas are the ONNX operator spec's (Conv, MaxPool,
 * AveragePool, opset 13); ceil_mode follows PyTorch's pooling_output_shape,
 * which drops a last window that would start inside the end padding (ONNX
 * later adopted the same rule in opset 19).
 *
 * Only 2-D spatial windows: the params' kernel/stride/dilation are (H, W),
 * pads are (top, left, bottom, right). */
#ifndef GB_OPS_WINDOW_H
#define GB_OPS_WINDOW_H

#include "internal.h"

/* Window attributes beyond this are absurd (and would overflow products). */
#define WIN_MAX ((int64_t)1 << 24)

typedef enum win_auto_pad { WIN_NOTSET, WIN_VALID, WIN_SAME_UPPER, WIN_SAME_LOWER } win_auto_pad;

/* Reads auto_pad; GB_ERR_UNSUPPORTED for an unknown value. */
static inline gb_status win_auto_pad_mode(const gb_node *n, win_auto_pad *mode) {
    const char *s;
    GB_TRY(gb_attr_string(n, "auto_pad", &s));
    *mode = WIN_NOTSET;
    if (!s || !*s || strcmp(s, "NOTSET") == 0) return GB_OK;
    if (strcmp(s, "VALID") == 0) *mode = WIN_VALID;
    else if (strcmp(s, "SAME_UPPER") == 0) *mode = WIN_SAME_UPPER;
    else if (strcmp(s, "SAME_LOWER") == 0) *mode = WIN_SAME_LOWER;
    else
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (%s): unknown auto_pad '%s'", n->name,
                        n->op_type, s);
    return GB_OK;
}

/* Reads an ints attribute that must have `count` values, each >= lo; a
 * different length means a non-2-D window, which gibbon does not do. */
static inline gb_status win_ints(const gb_node *n, const char *name, int count, int64_t lo,
                                 int64_t *out, int *found) {
    const gb_attr *a = gb_node_attr(n, name);
    if (a && a->type == GB_ATTR_INTS && a->n != count)
        return gb_error(GB_ERR_UNSUPPORTED,
                        "node '%s' (%s): attribute '%s' has %d values; only 2-D windows are "
                        "supported (%d values)",
                        n->name, n->op_type, name, a->n, count);
    GB_TRY(gb_attr_ints(n, name, count, out, found));
    if (found && !*found) return GB_OK;
    for (int i = 0; a && i < count; i++)
        if (out[i] < lo || out[i] > WIN_MAX)
            return gb_error(GB_ERR_FORMAT,
                            "node '%s' (%s): attribute '%s' has value %lld (outside %lld..%lld)",
                            n->name, n->op_type, name, (long long)out[i], (long long)lo,
                            (long long)WIN_MAX);
    return GB_OK;
}

/* Parses kernel_shape (sets p->kernel to 0s when absent), strides, pads,
 * dilations and checks auto_pad; defaults are ONNX's (1s and 0s). */
static inline gb_status win_parse(gb_node *n) {
    gb_op_params *p = &n->p;
    int found;
    p->kernel[0] = p->kernel[1] = 0;
    p->stride[0] = p->stride[1] = 1;
    p->dilation[0] = p->dilation[1] = 1;
    memset(p->pads, 0, sizeof p->pads);
    GB_TRY(win_ints(n, "kernel_shape", 2, 1, p->kernel, &found));
    GB_TRY(win_ints(n, "strides", 2, 1, p->stride, &found));
    GB_TRY(win_ints(n, "dilations", 2, 1, p->dilation, &found));
    GB_TRY(win_ints(n, "pads", 4, 0, p->pads, &found));
    win_auto_pad mode;
    return win_auto_pad_mode(n, &mode);
}

/* Output size of one spatial dimension, resolving auto_pad into pads
 * (*pb, *pe are read for NOTSET and written otherwise). Returns the output
 * size, or 0 when the window does not fit even once. */
static inline int64_t win_out_dim(win_auto_pad mode, int ceil_mode, int64_t in, int64_t k,
                                  int64_t s, int64_t d, int64_t *pb, int64_t *pe) {
    int64_t ek = d * (k - 1) + 1; /* extent of the dilated kernel */
    if (mode == WIN_VALID) {
        *pb = *pe = 0;
        return in >= ek ? (in - ek) / s + 1 : 0;
    }
    if (mode == WIN_SAME_UPPER || mode == WIN_SAME_LOWER) {
        int64_t out = (in + s - 1) / s;
        int64_t total = GB_MAX(0, (out - 1) * s + ek - in);
        /* SAME_UPPER puts the odd extra pad at the end, SAME_LOWER at the start. */
        *pb = mode == WIN_SAME_UPPER ? total / 2 : total - total / 2;
        *pe = total - *pb;
        return out;
    }
    int64_t span = in + *pb + *pe - ek;
    if (span < 0) return 0;
    int64_t out = (span + (ceil_mode ? s - 1 : 0)) / s + 1;
    if (ceil_mode && (out - 1) * s >= in + *pb) out--;
    return out;
}

/* Resolves both spatial dimensions for input (H, W) into n->p.pads and
 * (*oh, *ow); GB_ERR_SHAPE with a clear message when the window does not fit. */
static inline gb_status win_resolve(gb_node *n, int64_t h, int64_t w, int ceil_mode, int64_t *oh,
                                     int64_t *ow) {
    gb_op_params *p = &n->p;
    win_auto_pad mode;
    GB_TRY(win_auto_pad_mode(n, &mode));
    *oh = win_out_dim(mode, ceil_mode, h, p->kernel[0], p->stride[0], p->dilation[0], &p->pads[0],
                      &p->pads[2]);
    *ow = win_out_dim(mode, ceil_mode, w, p->kernel[1], p->stride[1], p->dilation[1], &p->pads[1],
                      &p->pads[3]);
    if (*oh < 1 || *ow < 1)
        return gb_error(GB_ERR_SHAPE,
                        "kernel %lldx%lld (dilations %lld, %lld) is larger than the padded input "
                        "%lldx%lld (pads %lld, %lld, %lld, %lld)",
                        (long long)p->kernel[0], (long long)p->kernel[1], (long long)p->dilation[0],
                        (long long)p->dilation[1], (long long)h, (long long)w,
                        (long long)p->pads[0], (long long)p->pads[1], (long long)p->pads[2],
                        (long long)p->pads[3]);
    return GB_OK;
}

/* Range [lo, hi) of output positions o for which o*s + off lies in [0, in):
 * the positions whose input index needs no padding. */
static inline void win_valid_range(int64_t off, int64_t s, int64_t in, int64_t out, int64_t *lo,
                                   int64_t *hi) {
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = in - off > 0 ? (in - off + s - 1) / s : 0;
    *lo = GB_MIN(l, out);
    *hi = GB_MAX(*lo, GB_MIN(h, out));
}

#endif
