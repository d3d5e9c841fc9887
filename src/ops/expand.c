/* expand.c — Expand, Tile and Range (ONNX operator spec, opsets 8-17).
 *
 *   Expand (x, shape): x broadcast against `shape` (numpy rules both ways:
 *     the output is the broadcast of x's shape and `shape`).
 *     dx = dy summed over the broadcast dimensions.
 *   Tile (x, repeats): x repeated repeats[d] times along each dimension d;
 *     y[i] = x[i mod shape(x)], dx sums dy over the repetitions.
 *   Range (start, limit, delta): start + k delta for k < max(ceil((limit -
 *     start) / delta), 0). Its length depends on the values, so they must be
 *     known at plan time (constants or computed from shapes); no gradient.
 * `shape` and `repeats` are likewise plan-time integer lists.
 */
#include "internal.h"
#include "ops/index.h"

#include <math.h>

/* ---- Expand ---- */

static gb_status expand_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    (void)n;
    int64_t s[GB_MAX_DIMS];
    int ns;
    GB_TRY(gb_value_ints(in[1], "Expand shape", s, GB_MAX_DIMS, &ns));
    gb_tensor st = {.ndim = ns};
    for (int d = 0; d < ns; d++) {
        if (s[d] < 0) return gb_error(GB_ERR_SHAPE, "Expand shape has a negative extent %lld", (long long)s[d]);
        st.shape[d] = s[d];
    }
    const gb_tensor *t[2] = {&in[0]->t, &st};
    int r = 0;
    int64_t ys[GB_MAX_DIMS];
    GB_TRY(idx_bcast_shape(t, 2, &r, ys));
    return gb_tensor_resize(out[0], r, ys);
}

static void expand_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                           const gb_exec *ex) {
    (void)n, (void)ex;
    idx_walk w;
    idx_walk_init(&w, out[0]->ndim, out[0]->shape, 1, NULL);
    idx_bcast_strides(in[0], out[0]->ndim, w.st[0]);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w)) out[0]->data[i] = in[0]->data[w.off[0]];
}

static void expand_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                            gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)n, (void)ex;
    if (!din[0]) return;
    idx_walk w;
    idx_walk_init(&w, out[0]->ndim, out[0]->shape, 1, NULL);
    idx_bcast_strides(in[0], out[0]->ndim, w.st[0]);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w)) din[0]->data[w.off[0]] += dout[0]->data[i];
}

const gb_op_def gb_opdef_EXPAND = {"Expand", 2, 2, 1, NULL, expand_infer, expand_forward, expand_backward};

/* ---- Tile ---- */

static gb_status tile_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    (void)n;
    const gb_tensor *x = &in[0]->t;
    int64_t rep[GB_MAX_DIMS], ys[GB_MAX_DIMS];
    int nr;
    GB_TRY(gb_value_ints(in[1], "Tile repeats", rep, GB_MAX_DIMS, &nr));
    if (nr != x->ndim)
        return gb_error(GB_ERR_SHAPE, "Tile repeats has %d values for an input of rank %d", nr, x->ndim);
    for (int d = 0; d < nr; d++) {
        if (rep[d] < 0) return gb_error(GB_ERR_SHAPE, "Tile repeats has a negative value %lld", (long long)rep[d]);
        if (rep[d] && x->shape[d] > INT64_MAX / rep[d]) return gb_error(GB_ERR_SHAPE, "Tile output is too large");
        ys[d] = x->shape[d] * rep[d];
    }
    return gb_tensor_resize(out[0], nr, ys);
}

/* Calls visit(i, j) for every output element i and the input element j it
 * copies: an odometer over y whose input index wraps at x's extents. */
#define TILE_LOOP(x, y, BODY)                                                      \
    do {                                                                           \
        int r_ = (y)->ndim;                                                        \
        int64_t st_[GB_MAX_DIMS], c_[GB_MAX_DIMS] = {0}, jd_[GB_MAX_DIMS] = {0}, j = 0; \
        idx_strides(r_, (x)->shape, st_);                                          \
        for (int64_t i = 0; i < (y)->size; i++) {                                  \
            BODY;                                                                  \
            for (int d = r_ - 1; d >= 0; d--) {                                    \
                j += st_[d];                                                       \
                if (++jd_[d] == (x)->shape[d]) jd_[d] = 0, j -= st_[d] * (x)->shape[d]; \
                if (++c_[d] < (y)->shape[d]) break;                                \
                c_[d] = 0, j -= st_[d] * jd_[d], jd_[d] = 0;                       \
            }                                                                      \
        }                                                                          \
    } while (0)

static void tile_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                         const gb_exec *ex) {
    (void)n, (void)ex;
    const gb_tensor *x = in[0];
    gb_tensor *y = out[0];
    TILE_LOOP(x, y, y->data[i] = x->data[j]);
}

static void tile_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                          gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)n, (void)ex;
    if (!din[0]) return;
    const gb_tensor *x = in[0], *y = out[0];
    float *dx = din[0]->data;
    const float *dy = dout[0]->data;
    TILE_LOOP(x, y, dx[j] += dy[i]);
}

const gb_op_def gb_opdef_TILE = {"Tile", 2, 2, 1, NULL, tile_infer, tile_forward, tile_backward};

/* ---- Range ---- */

static gb_status range_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    (void)n;
    static const char *const what[3] = {"start", "limit", "delta"};
    double v[3];
    for (int k = 0; k < 3; k++) {
        if (!gb_value_known(in[k]))
            return gb_error(GB_ERR_UNSUPPORTED,
                            "Range %s '%s' must be a constant or computed from shapes only (the output length would depend on the image)",
                            what[k], in[k] ? in[k]->name : "?");
        if (in[k]->t.size != 1) return gb_error(GB_ERR_SHAPE, "Range %s must be a scalar", what[k]);
        v[k] = in[k]->i64 ? (double)in[k]->i64[0] : in[k]->t.data[0];
    }
    if (v[2] == 0) return gb_error(GB_ERR_SHAPE, "Range delta is 0");
    double cnt = ceil((v[1] - v[0]) / v[2]);
    if (!(cnt < 1e9)) return gb_error(GB_ERR_SHAPE, "Range would have %g elements", cnt);
    int64_t len = cnt > 0 ? (int64_t)cnt : 0;
    return gb_tensor_resize(out[0], 1, &len);
}

static void range_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                          const gb_exec *ex) {
    (void)n, (void)ex;
    /* Accumulate like the spec's loop (start + delta + delta ...) in double. */
    double a = in[0]->data[0], d = in[2]->data[0];
    for (int64_t i = 0; i < out[0]->size; i++, a += d) out[0]->data[i] = (float)a;
}

static void range_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                           gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)n, (void)in, (void)out, (void)din, (void)dout, (void)ex;
}

const gb_op_def gb_opdef_RANGE = {"Range", 3, 3, 1, NULL, range_infer, range_forward, range_backward};
