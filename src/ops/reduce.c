/* reduce.c — ReduceSum, ReduceMean, ReduceMax, ReduceMin and GlobalMaxPool
 * (ONNX operator spec: axes as an attribute, or as input 1 for ReduceSum
 * from opset 13 and the others from opset 18; keepdims default 1;
 * noop_with_empty_axes).
 *
 * The input is walked once in order, each element adding into (or competing
 * for) its output slot; the output is the input with the reduced dimensions
 * set to 1, dropped afterwards when keepdims = 0 (same memory layout).
 * Backward: Sum spreads dy, Mean spreads dy / count, Max/Min route dy to the
 * first element that holds the extremum (scratch flags which slots have been
 * served).
 */
#include "internal.h"
#include "ops/reduce.h"

#include <math.h>

enum { RED_SUM, RED_MEAN, RED_MAX, RED_MIN };

static gb_status reduce_init(gb_node *n) {
    const char *t = n->op_type;
    n->p.mode = strcmp(t, "ReduceSum") == 0    ? RED_SUM
                : strcmp(t, "ReduceMean") == 0 ? RED_MEAN
                : strcmp(t, "ReduceMin") == 0  ? RED_MIN
                                               : RED_MAX; /* ReduceMax, GlobalMaxPool */
    return GB_OK;
}

/* Sets p.ax[d] = 1 for reduced dims and p.nax = 1 when nothing is reduced
 * (noop); returns the keepdims shape in ys. */
static gb_status reduce_axes(gb_node *n, const gb_value *const *in, const gb_tensor *x,
                             int64_t *ys, int *keep) {
    int r = x->ndim, cnt = 0;
    int64_t axes[GB_MAX_DIMS], keepdims = 1, noop = 0;
    GB_TRY(gb_attr_int(n, "keepdims", 1, &keepdims));
    GB_TRY(gb_attr_int(n, "noop_with_empty_axes", 0, &noop));
    if (strcmp(n->op_type, "GlobalMaxPool") == 0) {
        if (r < 3) return gb_error(GB_ERR_SHAPE, "GlobalMaxPool needs (N, C, spatial...) input");
        for (int d = 2; d < r; d++) axes[cnt++] = d;
        keepdims = 1;
    } else if (n->nin > 1 && in[1]) {
        GB_TRY(gb_value_ints(in[1], "axes", axes, GB_MAX_DIMS, &cnt));
    } else {
        const gb_attr *a = gb_node_attr(n, "axes");
        if (a && (a->type != GB_ATTR_INTS || a->n > GB_MAX_DIMS))
            return gb_error(GB_ERR_FORMAT, "attribute 'axes' must be at most %d ints", GB_MAX_DIMS);
        if (a) memcpy(axes, a->ints, (size_t)a->n * sizeof *axes), cnt = a->n;
    }
    for (int d = 0; d < r; d++) n->p.ax[d] = cnt == 0 && !noop;
    for (int i = 0; i < cnt; i++) {
        int d = idx_axis(axes[i], r);
        if (d < 0) return gb_error(GB_ERR_SHAPE, "axis %lld is outside [-%d, %d)", (long long)axes[i], r, r);
        n->p.ax[d] = 1;
    }
    n->p.nax = cnt == 0 && noop;
    for (int d = 0; d < r; d++) ys[d] = n->p.ax[d] ? 1 : x->shape[d];
    *keep = keepdims != 0;
    return GB_OK;
}

gb_status gb_reduce_shape(gb_node *n, const gb_value *const *in, gb_tensor *y, int nonempty) {
    const gb_tensor *x = &in[0]->t;
    int64_t ys[GB_MAX_DIMS];
    int keep = 1;
    GB_TRY(reduce_axes(n, in, x, ys, &keep));
    if (nonempty)
        for (int d = 0; d < x->ndim; d++)
            if (n->p.ax[d] && x->shape[d] == 0)
                return gb_error(GB_ERR_SHAPE, "%s over an empty axis", n->op_type);
    int r = 0;
    for (int d = 0; d < x->ndim; d++)
        if (keep || !n->p.ax[d]) ys[r++] = ys[d];
    return gb_tensor_resize(y, r, ys);
}

static gb_status reduce_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    GB_TRY(gb_reduce_shape(n, in, out[0], n->p.mode >= RED_MAX));
    if (n->p.mode >= RED_MAX) n->scratch_need[0] = out[0]->size;
    return GB_OK;
}

void gb_reduce_walk(const gb_node *n, const gb_tensor *x, idx_walk *w) {
    int64_t ks[GB_MAX_DIMS];
    idx_walk_init(w, x->ndim, x->shape, 2, NULL);
    idx_strides(x->ndim, x->shape, w->st[0]);
    for (int d = 0; d < x->ndim; d++) ks[d] = n->p.ax[d] ? 1 : x->shape[d];
    gb_tensor kt = {.ndim = x->ndim};
    memcpy(kt.shape, ks, sizeof ks);
    idx_bcast_strides(&kt, x->ndim, w->st[1]);
}

static void reduce_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                           const gb_exec *ex) {
    (void)ex;
    const gb_tensor *x = in[0];
    float *y = out[0]->data;
    int mode = n->p.mode;
    float init = mode == RED_MAX ? -INFINITY : mode == RED_MIN ? INFINITY : 0;
    for (int64_t o = 0; o < out[0]->size; o++) y[o] = init;
    idx_walk w;
    gb_reduce_walk(n, x, &w);
    for (int64_t i = 0; i < x->size; i++, idx_walk_next(&w)) {
        float v = x->data[i], *s = &y[w.off[1]];
        if (mode == RED_MAX) *s = v > *s ? v : *s;
        else if (mode == RED_MIN) *s = v < *s ? v : *s;
        else *s += v;
    }
    if (mode == RED_MEAN && out[0]->size) {
        float cnt = (float)(x->size / out[0]->size);
        for (int64_t o = 0; o < out[0]->size; o++) y[o] /= cnt;
    }
}

static void reduce_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                            gb_tensor *const *din, const gb_tensor *const *dout,
                            const gb_exec *ex) {
    (void)ex;
    if (!din[0]) return;
    const gb_tensor *x = in[0];
    const float *y = out[0]->data, *dy = dout[0]->data;
    float *dx = din[0]->data, *served = n->scratch[0].data;
    int mode = n->p.mode;
    float scale = mode == RED_MEAN && out[0]->size ? 1.0f / (float)(x->size / out[0]->size) : 1.0f;
    if (mode >= RED_MAX) memset(served, 0, (size_t)out[0]->size * sizeof *served);
    idx_walk w;
    gb_reduce_walk(n, x, &w);
    for (int64_t i = 0; i < x->size; i++, idx_walk_next(&w)) {
        int64_t o = w.off[1];
        if (mode < RED_MAX) {
            dx[i] += dy[o] * scale;
        } else if (!served[o] && x->data[i] == y[o]) {
            dx[i] += dy[o];
            served[o] = 1;
        }
    }
}

const gb_op_def gb_opdef_REDUCE_SUM = {"ReduceSum", 1, 2, 1, reduce_init, reduce_infer,
                                       reduce_forward, reduce_backward};
const gb_op_def gb_opdef_REDUCE_MEAN = {"ReduceMean", 1, 2, 1, reduce_init, reduce_infer,
                                        reduce_forward, reduce_backward};
const gb_op_def gb_opdef_REDUCE_MAX = {"ReduceMax", 1, 2, 1, reduce_init, reduce_infer,
                                       reduce_forward, reduce_backward};
const gb_op_def gb_opdef_REDUCE_MIN = {"ReduceMin", 1, 2, 1, reduce_init, reduce_infer,
                                       reduce_forward, reduce_backward};
const gb_op_def gb_opdef_GLOBAL_MAX_POOL = {"GlobalMaxPool", 1, 1, 1, reduce_init, reduce_infer,
                                            reduce_forward, reduce_backward};
