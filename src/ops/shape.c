/* shape.c — ops that only move data: Flatten, Reshape, Concat (ONNX opset
 * 13 semantics). Tensors are row-major, so Flatten and Reshape are a copy
 * under a new shape and their gradient is the output gradient read under the
 * input's shape; Concat's gradient is the output gradient cut back into the
 * inputs' slices.
 */
#include "internal.h"

/* Maps an ONNX axis in [-rank, rank + extra) to [0, rank + extra); -1 if out of range. */
static int norm_axis(int64_t axis, int rank, int extra) {
    if (axis < -rank || axis >= rank + extra) return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}

static void copy_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                         const gb_exec *ex) {
    (void)n, (void)ex;
    if (in[0]->size) memcpy(out[0]->data, in[0]->data, (size_t)in[0]->size * sizeof(float));
}

static void copy_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                          gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)in, (void)out, (void)ex;
    if (!din[0]) return;
    float *dx = din[0]->data;
    const float *dy = dout[0]->data;
    int64_t N = dout[0]->size;
    if (n->grad_overwrite) { /* dx was not zeroed: this node is its only writer */
        memcpy(dx, dy, (size_t)N * sizeof *dx);
        return;
    }
#pragma omp parallel for schedule(static) if (N > 65536)
    for (int64_t i = 0; i < N; i++) dx[i] += dy[i];
}

/* ---- Flatten: (d0..dk-1, dk..) -> (d0*..*dk-1, dk*..), k = axis (default 1) ---- */

static gb_status flatten_init(gb_node *n) { return gb_attr_int(n, "axis", 1, &n->p.axis); }

static gb_status flatten_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    if (!in[0]) return gb_error(GB_ERR_FORMAT, "Flatten needs an input");
    const gb_tensor *x = &in[0]->t;
    int axis = norm_axis(n->p.axis, x->ndim, 1);
    if (axis < 0)
        return gb_error(GB_ERR_SHAPE, "Flatten axis %lld is outside [-%d, %d] for an input of rank %d",
                        (long long)n->p.axis, x->ndim, x->ndim, x->ndim);
    int64_t ys[2] = {1, 1};
    for (int i = 0; i < x->ndim; i++) ys[i >= axis] *= x->shape[i];
    return gb_tensor_resize(out[0], 2, ys);
}

const gb_op_def gb_opdef_FLATTEN = {"Flatten", 1, 1, 1, flatten_init, flatten_infer,
                                    copy_forward, copy_backward};

/* ---- Reshape: target shape from a constant int64 input (opset >= 5) or
 * the `shape` attribute (opsets 1-4). An entry 0 copies the input's
 * dimension (unless allowzero=1, where it means 0); one entry may be -1 and
 * is inferred from the element count. ---- */

static gb_status reshape_init(gb_node *n) {
    int64_t allowzero;
    GB_TRY(gb_attr_int(n, "allowzero", 0, &allowzero));
    if (allowzero != 0 && allowzero != 1)
        return gb_error(GB_ERR_FORMAT, "node '%s' (Reshape): allowzero must be 0 or 1, got %lld",
                        n->name, (long long)allowzero);
    if (n->nin >= 2 && n->in[1] >= 0) return GB_OK;
    const gb_attr *a = gb_node_attr(n, "shape");
    if (!a || a->type != GB_ATTR_INTS || a->n > GB_MAX_DIMS)
        return gb_error(GB_ERR_FORMAT, "node '%s' (Reshape): no shape input and no usable 'shape' attribute (a list of at most %d ints)",
                        n->name, GB_MAX_DIMS);
    return GB_OK;
}

/* The requested shape, before 0 and -1 are resolved, into t[0..*nd). */
static gb_status reshape_target(const gb_node *n, const gb_value *sv, int64_t *t, int *nd) {
    if (!sv) { /* old form, checked by reshape_init */
        const gb_attr *a = gb_node_attr(n, "shape");
        memcpy(t, a->ints, (size_t)a->n * sizeof *t);
        *nd = a->n;
        return GB_OK;
    }
    if (!gb_value_known(sv))
        return gb_error(GB_ERR_UNSUPPORTED, "Reshape target shape '%s' must be a constant or computed from shapes only",
                        sv->name);
    if (sv->t.ndim > 1 || sv->t.size > GB_MAX_DIMS)
        return gb_error(GB_ERR_SHAPE, "Reshape target shape '%s' must be a 1-D list of at most %d dims",
                        sv->name, GB_MAX_DIMS);
    *nd = (int)sv->t.size;
    for (int i = 0; i < *nd; i++) {
        float f = sv->t.data[i];
        if (!sv->i64 && !(f > -2 && f < (float)GB_MAX_ELEMENTS)) /* keep the cast defined */
            return gb_error(GB_ERR_SHAPE, "Reshape target entry %d is %g", i, (double)f);
        t[i] = sv->i64 ? sv->i64[i] : (int64_t)f;
    }
    return GB_OK;
}

static gb_status reshape_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    if (!in[0]) return gb_error(GB_ERR_FORMAT, "Reshape needs a data input");
    const gb_tensor *x = &in[0]->t;
    char sx[128];
    int nd = 0, minus = -1;
    int64_t ys[GB_MAX_DIMS], known = 1, allowzero;
    GB_TRY(reshape_target(n, n->nin >= 2 ? in[1] : NULL, ys, &nd));
    GB_TRY(gb_attr_int(n, "allowzero", 0, &allowzero));
    for (int i = 0; i < nd; i++) {
        int64_t d = ys[i];
        if (d == 0 && !allowzero) {
            if (i >= x->ndim)
                return gb_error(GB_ERR_SHAPE, "Reshape target entry %d is 0 (copy) but the input %s has no dimension %d",
                                i, gb_shape_str(x->ndim, x->shape, sx, sizeof sx), i);
            d = x->shape[i];
        }
        if (d == -1) {
            if (minus >= 0) return gb_error(GB_ERR_SHAPE, "Reshape target has more than one -1");
            minus = i;
            d = 1;
        } else if (d < 0) {
            return gb_error(GB_ERR_SHAPE, "Reshape target entry %d is %lld", i, (long long)d);
        }
        ys[i] = d;
        if (d > 0 && known > GB_MAX_ELEMENTS / d)
            return gb_error(GB_ERR_SHAPE, "Reshape target shape is absurdly large");
        known *= d;
    }
    if (minus >= 0) {
        if (known == 0 || x->size % known != 0)
            return gb_error(GB_ERR_SHAPE, "Reshape cannot infer the -1 entry: %lld elements of %s into blocks of %lld",
                            (long long)x->size, gb_shape_str(x->ndim, x->shape, sx, sizeof sx),
                            (long long)known);
        ys[minus] = x->size / known;
        known = x->size;
    }
    if (known != x->size) {
        char sy[128];
        return gb_error(GB_ERR_SHAPE, "Reshape of %s (%lld elements) to %s (%lld elements)",
                        gb_shape_str(x->ndim, x->shape, sx, sizeof sx), (long long)x->size,
                        gb_shape_str(nd, ys, sy, sizeof sy), (long long)known);
    }
    return gb_tensor_resize(out[0], nd, ys);
}

const gb_op_def gb_opdef_RESHAPE = {"Reshape", 1, 2, 1, reshape_init, reshape_infer,
                                    copy_forward, copy_backward};

/* ---- Concat along axis: inputs agree on every other dimension. Seen as
 * (outer, d_k * inner) blocks, the output row is the inputs' rows side by
 * side. ---- */

/* Opset 1 defaulted axis to 1; later opsets require it. */
static gb_status concat_init(gb_node *n) { return gb_attr_int(n, "axis", 1, &n->p.axis); }

static gb_status concat_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    for (int k = 0; k < n->nin; k++)
        if (!in[k]) return gb_error(GB_ERR_SHAPE, "Concat input %d is missing", k);
    const gb_tensor *x0 = &in[0]->t;
    int axis = norm_axis(n->p.axis, x0->ndim, 0);
    if (axis < 0)
        return gb_error(GB_ERR_SHAPE, "Concat axis %lld is outside [-%d, %d) for inputs of rank %d",
                        (long long)n->p.axis, x0->ndim, x0->ndim, x0->ndim);
    int64_t ys[GB_MAX_DIMS];
    memcpy(ys, x0->shape, sizeof ys);
    for (int k = 1; k < n->nin; k++) {
        const gb_tensor *xk = &in[k]->t;
        int ok = xk->ndim == x0->ndim;
        for (int i = 0; ok && i < x0->ndim; i++) ok = i == axis || xk->shape[i] == x0->shape[i];
        if (!ok) {
            char s0[128], sk[128];
            return gb_error(GB_ERR_SHAPE, "Concat on axis %d: input %d %s does not fit input 0 %s",
                            axis, k, gb_shape_str(xk->ndim, xk->shape, sk, sizeof sk),
                            gb_shape_str(x0->ndim, x0->shape, s0, sizeof s0));
        }
        ys[axis] += xk->shape[axis];
    }
    return gb_tensor_resize(out[0], x0->ndim, ys);
}

/* The output y as (outer, axis dim, inner): products of the dims before and after the axis. */
static void concat_dims(const gb_node *n, const gb_tensor *y, int64_t *outer, int64_t *inner) {
    int axis = norm_axis(n->p.axis, y->ndim, 0);
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= y->shape[i];
    for (int i = axis + 1; i < y->ndim; i++) *inner *= y->shape[i];
}

static int64_t concat_width(const gb_node *n, const gb_tensor *x) {
    return x->shape[norm_axis(n->p.axis, x->ndim, 0)];
}

static void concat_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                           const gb_exec *ex) {
    (void)ex;
    int64_t outer, inner;
    concat_dims(n, out[0], &outer, &inner);
    const int64_t row = out[0]->size / (outer ? outer : 1);
    int64_t off = 0; /* where input k starts inside an output row */
    for (int k = 0; k < n->nin; k++) {
        const int64_t w = concat_width(n, in[k]) * inner;
        for (int64_t o = 0; o < outer && w > 0; o++)
            memcpy(out[0]->data + o * row + off, in[k]->data + o * w, (size_t)w * sizeof(float));
        off += w;
    }
}

static void concat_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                            gb_tensor *const *din, const gb_tensor *const *dout,
                            const gb_exec *ex) {
    (void)ex;
    int64_t outer, inner;
    concat_dims(n, out[0], &outer, &inner);
    const int64_t row = out[0]->size / (outer ? outer : 1);
    int64_t off = 0;
    for (int k = 0; k < n->nin; k++) {
        const int64_t w = concat_width(n, in[k]) * inner;
        if (din[k])
            for (int64_t o = 0; o < outer; o++) {
                const float *dy = dout[0]->data + o * row + off;
                float *dx = din[k]->data + o * w;
                for (int64_t j = 0; j < w; j++) dx[j] += dy[j];
            }
        off += w;
    }
}

const gb_op_def gb_opdef_CONCAT = {"Concat", 1, GB_MAX_NODE_IO, 1, concat_init, concat_infer,
                                   concat_forward, concat_backward};
