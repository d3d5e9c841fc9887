/* reduce_more.c — the remaining ONNX reductions (operator spec, opsets
 * 1-18; axes and keepdims as in reduce.c, through ops/reduce.h) and
 * ArgMax/ArgMin.
 *
 *   ReduceProd       y = prod x        dx = dy prod_{others} x
 *   ReduceL1         y = sum |x|       dx = dy sign(x)
 *   ReduceL2         y = sqrt(sum x^2) dx = dy x / y   (0 where y = 0)
 *   ReduceSumSquare  y = sum x^2       dx = 2 x dy
 *   ReduceLogSum     y = log sum x     dx = dy e^(-y)
 *   ReduceLogSumExp  y = m + log sum e^(x - m), m = max x;  dx = dy e^(x - y)
 * ReduceProd's backward counts zeros per slot so a single zero still gets
 * the product of the others (y / x would divide by zero).
 *
 * ArgMax/ArgMin (axis default 0, keepdims, select_last_index) return the
 * index as an integer value in float; an index is piecewise constant in x,
 * so no gradient flows (as in PyTorch).
 */
#include "ops/reduce.h"

#include <math.h>

enum { RX_PROD, RX_L1, RX_L2, RX_SSQ, RX_LOGSUM, RX_LSE };

static const char *const rx_names[] = {"ReduceProd", "ReduceL1", "ReduceL2",
                                       "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"};

static gb_status rx_init(gb_node *n) {
    for (int k = 0; k < (int)(sizeof rx_names / sizeof rx_names[0]); k++)
        if (strcmp(n->op_type, rx_names[k]) == 0) n->p.mode = k;
    return GB_OK;
}

static gb_status rx_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    GB_TRY(gb_reduce_shape(n, in, out[0], 0));
    if (n->p.mode == RX_PROD) n->scratch_need[0] = 2 * out[0]->size; /* product of nonzeros, zero count */
    if (n->p.mode == RX_LSE) n->scratch_need[0] = out[0]->size;      /* max per slot */
    return GB_OK;
}

static void rx_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                       const gb_exec *ex) {
    (void)ex;
    const gb_tensor *x = in[0];
    float *y = out[0]->data, *m = n->scratch[0].data;
    int64_t ny = out[0]->size;
    int mode = n->p.mode;
    idx_walk w;
    if (mode == RX_LSE) {
        for (int64_t o = 0; o < ny; o++) m[o] = -INFINITY;
        gb_reduce_walk(n, x, &w);
        for (int64_t i = 0; i < x->size; i++, idx_walk_next(&w))
            m[w.off[1]] = fmaxf(m[w.off[1]], x->data[i]);
        for (int64_t o = 0; o < ny; o++)
            if (!isfinite(m[o])) m[o] = 0; /* all -inf (or empty): no shift */
    }
    for (int64_t o = 0; o < ny; o++) y[o] = mode == RX_PROD ? 1 : 0;
    gb_reduce_walk(n, x, &w);
    for (int64_t i = 0; i < x->size; i++, idx_walk_next(&w)) {
        float v = x->data[i], *s = &y[w.off[1]];
        switch (mode) {
        case RX_PROD: *s *= v; break;
        case RX_L1: *s += fabsf(v); break;
        case RX_L2: case RX_SSQ: *s += v * v; break;
        case RX_LOGSUM: *s += v; break;
        default: *s += expf(v - m[w.off[1]]); break;
        }
    }
    for (int64_t o = 0; o < ny; o++) {
        if (mode == RX_L2) y[o] = sqrtf(y[o]);
        else if (mode == RX_LOGSUM) y[o] = logf(y[o]);
        else if (mode == RX_LSE) y[o] = m[o] + logf(y[o]);
    }
}

static void rx_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                        gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)ex;
    if (!din[0]) return;
    const gb_tensor *x = in[0];
    const float *y = out[0]->data, *dy = dout[0]->data;
    float *dx = din[0]->data;
    int64_t ny = out[0]->size;
    float *nz = n->scratch[0].data, *zeros = nz + ny;
    int mode = n->p.mode;
    idx_walk w;
    if (mode == RX_PROD) {
        for (int64_t o = 0; o < ny; o++) nz[o] = 1, zeros[o] = 0;
        gb_reduce_walk(n, x, &w);
        for (int64_t i = 0; i < x->size; i++, idx_walk_next(&w)) {
            if (x->data[i] == 0) zeros[w.off[1]] += 1;
            else nz[w.off[1]] *= x->data[i];
        }
    }
    gb_reduce_walk(n, x, &w);
    for (int64_t i = 0; i < x->size; i++, idx_walk_next(&w)) {
        int64_t o = w.off[1];
        float v = x->data[i], g = dy[o];
        switch (mode) {
        case RX_PROD:
            if (v != 0) dx[i] += zeros[o] == 0 ? g * nz[o] / v : 0;
            else dx[i] += zeros[o] == 1 ? g * nz[o] : 0;
            break;
        case RX_L1: dx[i] += v > 0 ? g : v < 0 ? -g : 0; break;
        case RX_L2: dx[i] += y[o] > 0 ? g * v / y[o] : 0; break;
        case RX_SSQ: dx[i] += 2 * v * g; break;
        case RX_LOGSUM: dx[i] += g * expf(-y[o]); break;
        default: dx[i] += g * expf(v - y[o]); break;
        }
    }
}

#define RX_OP(ID, NAME) \
    const gb_op_def gb_opdef_##ID = {NAME, 1, 2, 1, rx_init, rx_infer, rx_forward, rx_backward};

RX_OP(REDUCE_PROD, "ReduceProd")
RX_OP(REDUCE_L1, "ReduceL1")
RX_OP(REDUCE_L2, "ReduceL2")
RX_OP(REDUCE_SUM_SQUARE, "ReduceSumSquare")
RX_OP(REDUCE_LOG_SUM, "ReduceLogSum")
RX_OP(REDUCE_LOG_SUM_EXP, "ReduceLogSumExp")

/* ---- ArgMax, ArgMin ---- */

static gb_status arg_init(gb_node *n) {
    int64_t last = 0;
    GB_TRY(gb_attr_int(n, "axis", 0, &n->p.axis));
    GB_TRY(gb_attr_int(n, "select_last_index", 0, &last));
    n->p.mode = (strcmp(n->op_type, "ArgMin") == 0) | (last != 0) << 1;
    return GB_OK;
}

static gb_status arg_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t;
    int64_t keep = 1, ys[GB_MAX_DIMS];
    GB_TRY(gb_attr_int(n, "keepdims", 1, &keep));
    int a = idx_axis(n->p.axis, x->ndim), r = 0;
    if (a < 0) return gb_error(GB_ERR_SHAPE, "axis %lld is outside [-%d, %d)", (long long)n->p.axis, x->ndim, x->ndim);
    if (x->shape[a] == 0) return gb_error(GB_ERR_SHAPE, "%s over an empty axis", n->op_type);
    n->p.nax = a;
    for (int d = 0; d < x->ndim; d++)
        if (d != a) ys[r++] = x->shape[d];
        else if (keep) ys[r++] = 1;
    return gb_tensor_resize(out[0], r, ys);
}

static void arg_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                        const gb_exec *ex) {
    (void)ex;
    const gb_tensor *x = in[0];
    int a = n->p.nax, is_min = n->p.mode & 1, last = n->p.mode >> 1;
    int64_t K = x->shape[a], inner = 1;
    for (int d = a + 1; d < x->ndim; d++) inner *= x->shape[d];
    int64_t outer = K * inner != 0 ? x->size / (K * inner) : 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const float *p = x->data + o * K * inner + j;
            int64_t best = 0;
            for (int64_t k = 1; k < K; k++) {
                float v = p[k * inner], b = p[best * inner];
                int better = is_min ? (v < b || (last && v == b)) : (v > b || (last && v == b));
                if (better) best = k;
            }
            out[0]->data[o * inner + j] = (float)best;
        }
}

static void arg_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                         gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)n, (void)in, (void)out, (void)din, (void)dout, (void)ex;
}

const gb_op_def gb_opdef_ARG_MAX = {"ArgMax", 1, 1, 1, arg_init, arg_infer, arg_forward, arg_backward};
const gb_op_def gb_opdef_ARG_MIN = {"ArgMin", 1, 1, 1, arg_init, arg_infer, arg_forward, arg_backward};
