/* layout.c — ops that move or select data without arithmetic: Shape,
 * Gather, Unsqueeze, Squeeze, Transpose, Slice, Split, Pad, ConstantOfShape,
 * Cast (ONNX operator spec, opsets 7-18: attribute forms of the older opsets
 * and input forms of the newer ones are both read; node->opset decides where
 * they differ).
 *
 * Each output element comes from at most one input element (Pad's reflect
 * and edge modes read some inputs several times), so every backward is the
 * same index map run in reverse, accumulating: dx[src(i)] += dy[i].
 * Integer-valued inputs (indices, axes, pads, starts) must be known when the
 * graph is planned: constants, or computed from shapes (graph/fold.c).
 */
#include "internal.h"
#include "ops/index.h"

#include <math.h>

static void copy_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                         const gb_exec *ex) {
    (void)n, (void)ex;
    if (in[0]->size) memcpy(out[0]->data, in[0]->data, (size_t)in[0]->size * sizeof(float));
}

static void copy_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                          gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)n, (void)in, (void)out, (void)ex;
    if (!din[0]) return;
    for (int64_t i = 0; i < dout[0]->size; i++) din[0]->data[i] += dout[0]->data[i];
}

static void no_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                        gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)n, (void)in, (void)out, (void)din, (void)dout, (void)ex;
}

/* An int list given as attribute `name` (older opsets) or as input k (newer
 * ones), whichever the node has; *found = 0 when it has neither. */
static gb_status list_arg(const gb_node *n, const gb_value *const *in, int k, const char *name,
                          int64_t *out, int max, int *count, int *found) {
    *count = 0;
    *found = 0;
    if (k < n->nin && in[k]) {
        GB_TRY(gb_value_ints(in[k], name, out, max, count));
        *found = 1;
        return GB_OK;
    }
    const gb_attr *a = gb_node_attr(n, name);
    if (!a) return GB_OK;
    if (a->type != GB_ATTR_INTS || a->n > max)
        return gb_error(GB_ERR_FORMAT, "attribute '%s' must be a list of at most %d ints", name, max);
    memcpy(out, a->ints, (size_t)a->n * sizeof *out);
    *count = a->n;
    *found = 1;
    return GB_OK;
}

/* Normalises axes against rank r; duplicates and out-of-range are errors. */
static gb_status norm_axes(int64_t *axes, int count, int r) {
    for (int i = 0; i < count; i++) {
        int a = idx_axis(axes[i], r);
        if (a < 0)
            return gb_error(GB_ERR_SHAPE, "axis %lld is outside [-%d, %d)", (long long)axes[i], r, r);
        axes[i] = a;
        for (int j = 0; j < i; j++)
            if (axes[j] == a) return gb_error(GB_ERR_SHAPE, "axis %d is given twice", a);
    }
    return GB_OK;
}

/* ---- Shape: the input's dimensions as integers (opset 15: start/end) ---- */

static gb_status shape_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    int64_t r = in[0]->t.ndim, s, e;
    GB_TRY(gb_attr_int(n, "start", 0, &s));
    GB_TRY(gb_attr_int(n, "end", r, &e));
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = GB_MIN(GB_MAX(s, 0), r);
    e = GB_MIN(GB_MAX(e, 0), r);
    n->p.ax[0] = s;
    int64_t len = GB_MAX(e - s, 0);
    return gb_tensor_resize(out[0], 1, &len);
}

static void shape_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                          const gb_exec *ex) {
    (void)ex;
    for (int64_t i = 0; i < out[0]->size; i++) out[0]->data[i] = (float)in[0]->shape[n->p.ax[0] + i];
}

const gb_op_def gb_opdef_SHAPE = {"Shape", 1, 1, 1, NULL, shape_infer, shape_forward, no_backward};

/* ---- Gather along axis with known integer indices (negative wrap) ---- */

static gb_status gather_init(gb_node *n) { return gb_attr_int(n, "axis", 0, &n->p.axis); }

static gb_status gather_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    if (!in[0] || !in[1]) return gb_error(GB_ERR_FORMAT, "Gather needs data and indices");
    const gb_tensor *x = &in[0]->t, *ix = &in[1]->t;
    int axis = idx_axis(n->p.axis, x->ndim);
    if (axis < 0)
        return gb_error(GB_ERR_SHAPE, "axis %lld is outside [-%d, %d)", (long long)n->p.axis,
                        x->ndim, x->ndim);
    if (!gb_value_known(in[1]))
        return gb_error(GB_ERR_UNSUPPORTED, "indices '%s' must be a constant or computed from shapes",
                        in[1]->name);
    if (x->ndim - 1 + ix->ndim > GB_MAX_DIMS)
        return gb_error(GB_ERR_UNSUPPORTED, "output rank above %d", GB_MAX_DIMS);
    int64_t d = x->shape[axis];
    for (int64_t i = 0; i < ix->size; i++) {
        float v = ix->data[i];
        if (!(v >= -d && v < d))
            return gb_error(GB_ERR_SHAPE, "index %g is outside [-%lld, %lld)", (double)v,
                            (long long)d, (long long)d);
    }
    int64_t ys[GB_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < axis; i++) ys[r++] = x->shape[i];
    for (int i = 0; i < ix->ndim; i++) ys[r++] = ix->shape[i];
    for (int i = axis + 1; i < x->ndim; i++) ys[r++] = x->shape[i];
    n->p.nax = axis;
    return gb_tensor_resize(out[0], r, ys);
}

/* x as (outer, D, inner), y as (outer, K, inner) for K indices. */
static void gather_dims(const gb_node *n, const gb_tensor *x, int64_t *outer, int64_t *D,
                        int64_t *inner) {
    int axis = n->p.nax;
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= x->shape[i];
    for (int i = axis + 1; i < x->ndim; i++) *inner *= x->shape[i];
    *D = x->shape[axis];
}

static void gather_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                           const gb_exec *ex) {
    (void)ex;
    int64_t outer, D, inner, K = in[1]->size;
    gather_dims(n, in[0], &outer, &D, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < K; k++) {
            int64_t j = (int64_t)in[1]->data[k];
            if (j < 0) j += D;
            memcpy(out[0]->data + (o * K + k) * inner, in[0]->data + (o * D + j) * inner,
                   (size_t)inner * sizeof(float));
        }
}

static void gather_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                            gb_tensor *const *din, const gb_tensor *const *dout,
                            const gb_exec *ex) {
    (void)out, (void)ex;
    if (!din[0]) return;
    int64_t outer, D, inner, K = in[1]->size;
    gather_dims(n, in[0], &outer, &D, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < K; k++) {
            int64_t j = (int64_t)in[1]->data[k];
            if (j < 0) j += D;
            float *dx = din[0]->data + (o * D + j) * inner;
            const float *dy = dout[0]->data + (o * K + k) * inner;
            for (int64_t i = 0; i < inner; i++) dx[i] += dy[i];
        }
}

const gb_op_def gb_opdef_GATHER = {"Gather", 2, 2, 1, gather_init, gather_infer, gather_forward,
                                   gather_backward};

/* ---- Unsqueeze: insert size-1 dims at axes (of the output) ---- */

static gb_status unsqueeze_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    int64_t axes[GB_MAX_DIMS];
    int cnt, found;
    GB_TRY(list_arg(n, in, 1, "axes", axes, GB_MAX_DIMS, &cnt, &found));
    if (!found) return gb_error(GB_ERR_FORMAT, "Unsqueeze needs axes");
    int r = x->ndim + cnt;
    if (r > GB_MAX_DIMS) return gb_error(GB_ERR_UNSUPPORTED, "output rank %d above %d", r, GB_MAX_DIMS);
    GB_TRY(norm_axes(axes, cnt, r));
    int64_t ys[GB_MAX_DIMS];
    int is_new[GB_MAX_DIMS] = {0};
    for (int i = 0; i < cnt; i++) is_new[axes[i]] = 1;
    for (int i = 0, j = 0; i < r; i++) ys[i] = is_new[i] ? 1 : x->shape[j++];
    return gb_tensor_resize(out[0], r, ys);
}

const gb_op_def gb_opdef_UNSQUEEZE = {"Unsqueeze", 1, 2, 1, NULL, unsqueeze_infer, copy_forward,
                                      copy_backward};

/* ---- Squeeze: drop size-1 dims at axes (all of them when none given) ---- */

static gb_status squeeze_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    int64_t axes[GB_MAX_DIMS];
    int cnt, found;
    GB_TRY(list_arg(n, in, 1, "axes", axes, GB_MAX_DIMS, &cnt, &found));
    GB_TRY(norm_axes(axes, cnt, x->ndim));
    int drop[GB_MAX_DIMS] = {0};
    for (int i = 0; i < cnt; i++) {
        if (x->shape[axes[i]] != 1)
            return gb_error(GB_ERR_SHAPE, "cannot squeeze axis %lld of extent %lld",
                            (long long)axes[i], (long long)x->shape[axes[i]]);
        drop[axes[i]] = 1;
    }
    int64_t ys[GB_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!(cnt ? drop[i] : x->shape[i] == 1)) ys[r++] = x->shape[i];
    return gb_tensor_resize(out[0], r, ys);
}

const gb_op_def gb_opdef_SQUEEZE = {"Squeeze", 1, 2, 1, NULL, squeeze_infer, copy_forward,
                                    copy_backward};

/* ---- Transpose: y[i_0..] = x[i_perm^-1...], perm defaults to reversed ---- */

static gb_status transpose_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    int r = x->ndim, cnt, found;
    int64_t *perm = n->p.ax;
    GB_TRY(list_arg(n, in, GB_MAX_NODE_IO, "perm", perm, GB_MAX_DIMS, &cnt, &found));
    if (!found || cnt == 0) {
        for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
        cnt = r;
    }
    if (cnt != r) return gb_error(GB_ERR_SHAPE, "perm has %d entries for an input of rank %d", cnt, r);
    int seen[GB_MAX_DIMS] = {0};
    int64_t ys[GB_MAX_DIMS];
    for (int i = 0; i < r; i++) {
        if (perm[i] < 0 || perm[i] >= r || seen[perm[i]]++)
            return gb_error(GB_ERR_SHAPE, "perm is not a permutation of 0..%d", r - 1);
        ys[i] = x->shape[perm[i]];
    }
    return gb_tensor_resize(out[0], r, ys);
}

/* A walk over y whose operand 0 follows the matching element of x. */
static void transpose_walk(const gb_node *n, const gb_tensor *x, const gb_tensor *y, idx_walk *w) {
    int64_t xst[GB_MAX_DIMS];
    idx_strides(x->ndim, x->shape, xst);
    idx_walk_init(w, y->ndim, y->shape, 1, NULL);
    for (int i = 0; i < y->ndim; i++) w->st[0][i] = xst[n->p.ax[i]];
}

static void transpose_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                              const gb_exec *ex) {
    (void)ex;
    idx_walk w;
    transpose_walk(n, in[0], out[0], &w);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w))
        out[0]->data[i] = in[0]->data[w.off[0]];
}

static void transpose_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                               gb_tensor *const *din, const gb_tensor *const *dout,
                               const gb_exec *ex) {
    (void)ex;
    if (!din[0]) return;
    idx_walk w;
    transpose_walk(n, in[0], out[0], &w);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w))
        din[0]->data[w.off[0]] += dout[0]->data[i];
}

const gb_op_def gb_opdef_TRANSPOSE = {"Transpose", 1, 1, 1, NULL, transpose_infer,
                                      transpose_forward, transpose_backward};

/* ---- Slice: per axis start/end/step, clamped as the ONNX spec says ---- */

static gb_status slice_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    int r = x->ndim;
    int64_t starts[GB_MAX_DIMS], ends[GB_MAX_DIMS], axes[GB_MAX_DIMS], steps[GB_MAX_DIMS];
    int ns, ne, na, nst, found;
    int old = n->opset < 10; /* attributes instead of inputs */
    GB_TRY(list_arg(n, in, old ? GB_MAX_NODE_IO : 1, "starts", starts, GB_MAX_DIMS, &ns, &found));
    GB_TRY(list_arg(n, in, old ? GB_MAX_NODE_IO : 2, "ends", ends, GB_MAX_DIMS, &ne, &found));
    GB_TRY(list_arg(n, in, old ? GB_MAX_NODE_IO : 3, "axes", axes, GB_MAX_DIMS, &na, &found));
    if (!found) {
        na = ns;
        for (int i = 0; i < na; i++) axes[i] = i;
    }
    GB_TRY(list_arg(n, in, old ? GB_MAX_NODE_IO : 4, "steps", steps, GB_MAX_DIMS, &nst, &found));
    if (!found) {
        nst = ns;
        for (int i = 0; i < nst; i++) steps[i] = 1;
    }
    if (ns != ne || ns != na || ns != nst)
        return gb_error(GB_ERR_SHAPE, "starts, ends, axes and steps have %d, %d, %d and %d entries",
                        ns, ne, na, nst);
    GB_TRY(norm_axes(axes, na, r));
    int64_t ys[GB_MAX_DIMS];
    for (int d = 0; d < r; d++) {
        n->p.ax[d] = 0;
        n->p.ax2[d] = 1;
        ys[d] = x->shape[d];
    }
    for (int i = 0; i < na; i++) {
        int d = (int)axes[i];
        int64_t dim = x->shape[d], s = starts[i], e = ends[i], st = steps[i];
        if (st == 0) return gb_error(GB_ERR_SHAPE, "step 0 on axis %d", d);
        if (st == INT64_MIN) st = -INT64_MAX; /* same slice, and -st stays representable */
        /* starts/ends may be any int64 (INT64_MAX means "to the end"): clamp before arithmetic */
        s = GB_MIN(GB_MAX(s, -dim - 1), dim + 1);
        e = GB_MIN(GB_MAX(e, -dim - 1), dim + 1);
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        int64_t count;
        if (st > 0) {
            s = GB_MIN(GB_MAX(s, 0), dim);
            e = GB_MIN(GB_MAX(e, 0), dim);
            count = e > s ? 1 + (e - s - 1) / st : 0;
        } else {
            s = GB_MIN(GB_MAX(s, 0), dim - 1);
            e = GB_MIN(GB_MAX(e, -1), dim - 1);
            count = s > e ? 1 + (s - e - 1) / (-st) : 0;
        }
        n->p.ax[d] = count ? s : 0;
        n->p.ax2[d] = count > 1 ? st : 1; /* a step past the end only matters for one element */
        ys[d] = count;
    }
    return gb_tensor_resize(out[0], r, ys);
}

static void slice_walk(const gb_node *n, const gb_tensor *x, const gb_tensor *y, idx_walk *w) {
    int64_t xst[GB_MAX_DIMS], base = 0;
    idx_strides(x->ndim, x->shape, xst);
    for (int d = 0; d < x->ndim; d++) base += n->p.ax[d] * xst[d];
    idx_walk_init(w, y->ndim, y->shape, 1, &base);
    for (int d = 0; d < y->ndim; d++) w->st[0][d] = xst[d] * n->p.ax2[d];
}

static void slice_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                          const gb_exec *ex) {
    (void)ex;
    idx_walk w;
    slice_walk(n, in[0], out[0], &w);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w))
        out[0]->data[i] = in[0]->data[w.off[0]];
}

static void slice_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                           gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)ex;
    if (!din[0]) return;
    idx_walk w;
    slice_walk(n, in[0], out[0], &w);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w))
        din[0]->data[w.off[0]] += dout[0]->data[i];
}

const gb_op_def gb_opdef_SLICE = {"Slice", 1, 5, 1, NULL, slice_infer, slice_forward,
                                  slice_backward};

/* ---- Split along axis into parts given by `split` (attribute before
 * opset 13, input after) or equal parts (the last one smaller, opset 18) ---- */

static gb_status split_init(gb_node *n) { return gb_attr_int(n, "axis", 0, &n->p.axis); }

static gb_status split_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    int axis = idx_axis(n->p.axis, x->ndim);
    if (axis < 0) return gb_error(GB_ERR_SHAPE, "axis %lld is out of range", (long long)n->p.axis);
    int64_t sizes[GB_MAX_NODE_IO], d = x->shape[axis];
    int cnt, found;
    GB_TRY(list_arg(n, in, n->opset < 13 ? GB_MAX_NODE_IO : 1, "split", sizes, GB_MAX_NODE_IO, &cnt,
                    &found));
    if (!found || cnt == 0) {
        cnt = n->nout;
        int64_t part = (d + cnt - 1) / cnt;
        for (int k = 0; k < cnt; k++) sizes[k] = GB_MAX(GB_MIN(part, d - k * part), 0);
    }
    if (cnt != n->nout) return gb_error(GB_ERR_SHAPE, "%d split sizes for %d outputs", cnt, n->nout);
    int64_t off = 0;
    for (int k = 0; k < cnt; k++) {
        if (sizes[k] < 0) return gb_error(GB_ERR_SHAPE, "negative split size");
        n->p.ax[k] = off;
        off += sizes[k];
        if (!out[k]) continue;
        int64_t ys[GB_MAX_DIMS];
        memcpy(ys, x->shape, sizeof ys);
        ys[axis] = sizes[k];
        GB_TRY(gb_tensor_resize(out[k], x->ndim, ys));
    }
    if (off != d)
        return gb_error(GB_ERR_SHAPE, "split sizes add up to %lld, axis %d has %lld", (long long)off,
                        axis, (long long)d);
    n->p.nax = axis;
    return GB_OK;
}

/* Output k as (outer, its extent * inner) rows inside x's (outer, d * inner) rows. */
static void split_run(const gb_node *n, const gb_tensor *x, gb_tensor *const *ys, float *dx,
                      const gb_tensor *const *dys) {
    int axis = n->p.nax;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= x->shape[i];
    for (int i = axis + 1; i < x->ndim; i++) inner *= x->shape[i];
    int64_t row = x->shape[axis] * inner;
    for (int k = 0; k < n->nout; k++) {
        const gb_tensor *y = dx ? dys[k] : ys[k];
        if (!y) continue;
        int64_t w = y->shape[axis] * inner, off = n->p.ax[k] * inner;
        for (int64_t o = 0; o < outer; o++) {
            if (dx) {
                for (int64_t j = 0; j < w; j++) dx[o * row + off + j] += y->data[o * w + j];
            } else if (w) {
                memcpy(ys[k]->data + o * w, x->data + o * row + off, (size_t)w * sizeof(float));
            }
        }
    }
}

static void split_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                          const gb_exec *ex) {
    (void)ex;
    split_run(n, in[0], out, NULL, NULL);
}

static void split_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                           gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)out, (void)ex;
    if (din[0]) split_run(n, in[0], NULL, din[0]->data, dout);
}

const gb_op_def gb_opdef_SPLIT = {"Split", 1, 2, GB_MAX_NODE_IO, split_init, split_infer,
                                  split_forward, split_backward};

/* ---- Pad: constant, reflect or edge; negative pads crop ---- */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE };

static gb_status pad_init(gb_node *n) {
    const char *mode;
    GB_TRY(gb_attr_string(n, "mode", &mode));
    if (!mode || strcmp(mode, "constant") == 0) n->p.mode = PAD_CONSTANT;
    else if (strcmp(mode, "reflect") == 0) n->p.mode = PAD_REFLECT;
    else if (strcmp(mode, "edge") == 0) n->p.mode = PAD_EDGE;
    else
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (Pad): mode '%s' is not supported (constant, reflect, edge are)",
                        n->name, mode);
    return gb_attr_float(n, "value", 0.0f, &n->p.value);
}

static gb_status pad_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    int r = x->ndim, cnt, found, na = r;
    int64_t pads[2 * GB_MAX_DIMS], axes[GB_MAX_DIMS];
    GB_TRY(list_arg(n, in, n->opset < 11 ? GB_MAX_NODE_IO : 1, "pads", pads, 2 * GB_MAX_DIMS, &cnt,
                    &found));
    if (!found) return gb_error(GB_ERR_FORMAT, "Pad needs pads");
    GB_TRY(list_arg(n, in, 3, "axes", axes, GB_MAX_DIMS, &na, &found));
    if (!found) {
        na = r;
        for (int i = 0; i < r; i++) axes[i] = i;
    }
    GB_TRY(norm_axes(axes, na, r));
    if (cnt != 2 * na) return gb_error(GB_ERR_SHAPE, "%d pads for %d axes", cnt, na);
    if (n->opset >= 11 && n->nin > 2 && in[2]) {
        if (!gb_value_known(in[2]) || in[2]->t.size != 1)
            return gb_error(GB_ERR_UNSUPPORTED, "constant_value must be a known scalar");
        n->p.value = in[2]->t.data[0];
    }
    int64_t *begin = n->p.ax, *end = n->p.ax + GB_MAX_DIMS, ys[GB_MAX_DIMS];
    for (int d = 0; d < r; d++) begin[d] = end[d] = 0;
    for (int i = 0; i < na; i++) {
        begin[axes[i]] = pads[i];
        end[axes[i]] = pads[na + i];
    }
    for (int d = 0; d < r; d++) {
        if (begin[d] > GB_MAX_ELEMENTS || begin[d] < -GB_MAX_ELEMENTS || end[d] > GB_MAX_ELEMENTS ||
            end[d] < -GB_MAX_ELEMENTS)
            return gb_error(GB_ERR_NOMEM, "pads of (%lld, %lld) on axis %d are absurd", (long long)begin[d],
                            (long long)end[d], d);
        ys[d] = x->shape[d] + begin[d] + end[d];
        if (ys[d] < 0) return gb_error(GB_ERR_SHAPE, "pads crop axis %d below zero", d);
        int64_t lim = x->shape[d] - 1; /* one reflection at most */
        if (n->p.mode == PAD_REFLECT && (begin[d] > lim || end[d] > lim))
            return gb_error(GB_ERR_UNSUPPORTED, "reflect pads of (%lld, %lld) on axis %d of extent %lld",
                            (long long)begin[d], (long long)end[d], d, (long long)x->shape[d]);
        if (n->p.mode == PAD_EDGE && x->shape[d] == 0 && (begin[d] > 0 || end[d] > 0))
            return gb_error(GB_ERR_SHAPE, "edge padding of the empty axis %d", d);
    }
    return gb_tensor_resize(out[0], r, ys);
}

/* The source coordinate of padded coordinate i - begin in an axis of extent d; -1 for the constant. */
static inline int64_t pad_src(int64_t i, int64_t d, int mode) {
    if (i >= 0 && i < d) return i;
    if (mode == PAD_CONSTANT) return -1;
    if (mode == PAD_EDGE) return i < 0 ? 0 : d - 1;
    if (d == 1) return 0;
    return i < 0 ? -i : 2 * (d - 1) - i;
}

/* Runs Pad forward (dx == NULL) or backward over output rows. */
static void pad_run(const gb_node *n, const gb_tensor *x, const gb_tensor *y, float *yv,
                    float *dx, const float *dy) {
    int r = y->ndim;
    const int64_t *begin = n->p.ax;
    if (r == 0) {
        if (dx) dx[0] += dy[0];
        else yv[0] = x->data[0];
        return;
    }
    int64_t xst[GB_MAX_DIMS], W = y->shape[r - 1], Wx = x->shape[r - 1];
    idx_strides(r, x->shape, xst);
    int64_t rows = W ? y->size / W : 0, ctr[GB_MAX_DIMS] = {0};
    for (int64_t row = 0; row < rows; row++) {
        int64_t base = 0;
        int outside = 0;
        for (int d = 0; d < r - 1; d++) {
            int64_t s = pad_src(ctr[d] - begin[d], x->shape[d], n->p.mode);
            if (s < 0) outside = 1;
            else base += s * xst[d];
        }
        for (int64_t j = 0; j < W; j++) {
            int64_t s = outside ? -1 : pad_src(j - begin[r - 1], Wx, n->p.mode);
            if (dx) {
                if (s >= 0) dx[base + s] += dy[row * W + j];
            } else {
                yv[row * W + j] = s >= 0 ? x->data[base + s] : n->p.value;
            }
        }
        for (int d = r - 2; d >= 0; d--) {
            if (++ctr[d] < y->shape[d]) break;
            ctr[d] = 0;
        }
    }
}

static void pad_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                        const gb_exec *ex) {
    (void)ex;
    pad_run(n, in[0], out[0], out[0]->data, NULL, NULL);
}

static void pad_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                         gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)ex;
    if (din[0]) pad_run(n, in[0], out[0], NULL, din[0]->data, dout[0]->data);
}

const gb_op_def gb_opdef_PAD = {"Pad", 1, 4, 1, pad_init, pad_infer, pad_forward, pad_backward};

/* ---- ConstantOfShape: a tensor of the given (known) shape filled with
 * `value` (a one-element tensor attribute, default float 0) ---- */

static gb_status cos_init(gb_node *n) {
    const gb_attr *a = gb_node_attr(n, "value");
    n->p.value = 0;
    if (!a) return GB_OK;
    if ((a->type == GB_ATTR_FLOATS || a->type == GB_ATTR_INTS) && a->n == 1) {
        n->p.value = a->type == GB_ATTR_FLOATS ? a->floats[0] : (float)a->ints[0];
        return GB_OK;
    }
    return gb_error(GB_ERR_FORMAT, "node '%s' (ConstantOfShape): value must be a one-element tensor",
                    n->name);
}

static gb_status cos_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    int64_t ys[GB_MAX_DIMS];
    int r;
    GB_TRY(gb_value_ints(in[0], "shape", ys, GB_MAX_DIMS, &r));
    for (int i = 0; i < r; i++)
        if (ys[i] < 0) return gb_error(GB_ERR_SHAPE, "negative dimension %lld", (long long)ys[i]);
    int64_t numel;
    GB_TRY(gb_shape_numel(r, ys, &numel));
    return gb_tensor_resize(out[0], r, ys);
}

static void cos_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                        const gb_exec *ex) {
    (void)in, (void)ex;
    for (int64_t i = 0; i < out[0]->size; i++) out[0]->data[i] = n->p.value;
}

const gb_op_def gb_opdef_CONSTANT_OF_SHAPE = {"ConstantOfShape", 1, 1, 1, cos_init, cos_infer,
                                              cos_forward, no_backward};

/* ---- Cast: to float (and double, kept in float32) passes values and
 * gradients through; to integer types truncates toward zero, to bool tests
 * != 0, without gradient. ---- */

enum { CAST_FLOAT, CAST_INT, CAST_BOOL };

static gb_status cast_init(gb_node *n) {
    int64_t to;
    GB_TRY(gb_attr_int(n, "to", 0, &to));
    switch (to) {
    case 1: case 11: n->p.mode = CAST_FLOAT; return GB_OK;
    case 2: case 3: case 4: case 5: case 6: case 7: case 12: case 13: n->p.mode = CAST_INT; return GB_OK;
    case 9: n->p.mode = CAST_BOOL; return GB_OK;
    default:
        return gb_error(GB_ERR_UNSUPPORTED, "node '%s' (Cast): target type %lld is not supported (float, double, integers and bool are)",
                        n->name, (long long)to);
    }
}

static gb_status same_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    (void)n;
    return gb_tensor_resize(out[0], in[0]->t.ndim, in[0]->t.shape);
}

static void cast_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                         const gb_exec *ex) {
    (void)ex;
    const float *x = in[0]->data;
    float *y = out[0]->data;
    for (int64_t i = 0; i < in[0]->size; i++)
        y[i] = n->p.mode == CAST_FLOAT ? x[i] : n->p.mode == CAST_INT ? truncf(x[i]) : (float)(x[i] != 0);
}

static void cast_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                          gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    if (n->p.mode == CAST_FLOAT) copy_backward(n, in, out, din, dout, ex);
}

const gb_op_def gb_opdef_CAST = {"Cast", 1, 1, 1, cast_init, same_infer, cast_forward,
                                 cast_backward};
