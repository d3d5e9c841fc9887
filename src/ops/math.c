/* math.c — elementwise math beyond the classic activations (ONNX operator
 * spec, opsets 6-18):
 *   unary:       Neg, Abs, Exp, Log, Sqrt, Reciprocal, Elu, Selu, HardSigmoid,
 *                HardSwish, Softplus, Softsign
 *   broadcasting: Pow, PRelu (slope broadcast to X), and the variadic Max,
 *                Min, Sum, Mean
 * Forward and backward side by side; backward accumulates. Derivatives:
 *   Elu  x > 0 ? 1 : y + alpha           Selu  gamma * (x > 0 ? 1 : alpha e^x)
 *   HardSigmoid alpha inside (0, 1)      HardSwish 0 | x/3 + 1/2 | 1
 *   Pow  d/da = b a^(b-1), d/db = y ln a  PRelu d/dx = x < 0 ? slope : 1
 *   Max/Min: the gradient goes to the first input holding the extremum.
 * At kinks (|x| at 0, Elu at 0, HardSigmoid/HardSwish at their corners) the
 * derivative is the right-hand one, like PyTorch's.
 */
#include "internal.h"
#include "ops/elementwise.h"

#include <math.h>

static gb_status elu_init(gb_node *n) { return gb_attr_float(n, "alpha", 1.0f, &n->p.alpha); }

/* SELU constants from Klambauer et al. 2017, as the ONNX defaults spell them. */
static gb_status selu_init(gb_node *n) {
    GB_TRY(gb_attr_float(n, "alpha", 1.67326319217681884765625f, &n->p.alpha));
    return gb_attr_float(n, "gamma", 1.05070102214813232421875f, &n->p.beta);
}

static gb_status hardsigmoid_init(gb_node *n) {
    GB_TRY(gb_attr_float(n, "alpha", 0.2f, &n->p.alpha));
    return gb_attr_float(n, "beta", 0.5f, &n->p.beta);
}

/* log(1 + e^x) without overflow. */
static inline float softplus(float x) { return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)); }
static inline float sigmoid(float x) { return x >= 0 ? 1 / (1 + expf(-x)) : expf(x) / (1 + expf(x)); }

UNARY_OP(NEG, "Neg", NULL, -x, -1.0f)
UNARY_OP(ABS, "Abs", NULL, fabsf(x), x >= 0 ? 1.0f : -1.0f)
UNARY_OP(EXP, "Exp", NULL, expf(x), y)
UNARY_OP(LOG, "Log", NULL, logf(x), 1.0f / x)
UNARY_OP(SQRT, "Sqrt", NULL, sqrtf(x), 0.5f / y)
UNARY_OP(RECIPROCAL, "Reciprocal", NULL, 1.0f / x, -y * y)
UNARY_OP(ELU, "Elu", elu_init, x > 0 ? x : a * expm1f(x), x > 0 ? 1.0f : y + a)
UNARY_OP(SELU, "Selu", selu_init, x > 0 ? b * x : b * a * expm1f(x), x > 0 ? b : b * a * expf(x))
UNARY_OP(HARD_SIGMOID, "HardSigmoid", hardsigmoid_init, fmaxf(0.0f, fminf(1.0f, a * x + b)),
         (a * x + b > 0 && a * x + b < 1) ? a : 0.0f)
UNARY_OP(HARD_SWISH, "HardSwish", NULL, x * fmaxf(0.0f, fminf(1.0f, x / 6.0f + 0.5f)),
         x < -3.0f ? 0.0f : (x > 3.0f ? 1.0f : x / 3.0f + 0.5f))
UNARY_OP(SOFTPLUS, "Softplus", NULL, softplus(x), sigmoid(x))
UNARY_OP(SOFTSIGN, "Softsign", NULL, x / (1.0f + fabsf(x)), 1.0f / ((1.0f + fabsf(x)) * (1.0f + fabsf(x))))

/* ---- broadcasting ops over all inputs ---- */

/* A walk over y with operand k following input k under broadcasting. */
static void bc_walk(const gb_node *n, const gb_tensor *const *in, const gb_tensor *y, idx_walk *w) {
    ew_bcast_walk(in, n->nin, y, w);
    if (n->p.mode == 1) { /* PRelu-6 per-channel slope: (C) against (N, C, ...) */
        memset(w->st[1], 0, sizeof w->st[1]);
        w->st[1][1] = 1;
    }
}

/* Pow: y = a^b */
static void pow_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                        const gb_exec *ex) {
    (void)ex;
    idx_walk w;
    bc_walk(n, in, out[0], &w);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w))
        out[0]->data[i] = powf(in[0]->data[w.off[0]], in[1]->data[w.off[1]]);
}

static void pow_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                         gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)ex;
    idx_walk w;
    bc_walk(n, in, out[0], &w);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w)) {
        float a = in[0]->data[w.off[0]], b = in[1]->data[w.off[1]], g = dout[0]->data[i];
        if (din[0] && g != 0) din[0]->data[w.off[0]] += g * b * powf(a, b - 1);
        if (din[1] && a > 0) din[1]->data[w.off[1]] += g * out[0]->data[i] * logf(a);
    }
}

const gb_op_def gb_opdef_POW = {"Pow", 2, 2, 1, NULL, ew_bcast_infer, pow_forward, pow_backward};

/* PRelu: y = x < 0 ? slope x : x */
static void prelu_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                          const gb_exec *ex) {
    (void)ex;
    idx_walk w;
    bc_walk(n, in, out[0], &w);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w)) {
        float x = in[0]->data[w.off[0]];
        out[0]->data[i] = x < 0 ? in[1]->data[w.off[1]] * x : x;
    }
}

static void prelu_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                           gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)ex;
    idx_walk w;
    bc_walk(n, in, out[0], &w);
    for (int64_t i = 0; i < out[0]->size; i++, idx_walk_next(&w)) {
        float x = in[0]->data[w.off[0]], g = dout[0]->data[i];
        if (din[0]) din[0]->data[w.off[0]] += x < 0 ? g * in[1]->data[w.off[1]] : g;
        if (din[1] && x < 0) din[1]->data[w.off[1]] += g * x;
    }
}

/* Before opset 7 a 1-D slope of C values was per channel of (N, C, ...),
 * not broadcast from the right. */
static gb_status prelu_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    const gb_tensor *x = &in[0]->t, *s = &in[1]->t;
    n->p.mode = n->opset < 7 && s->ndim == 1 && x->ndim > 2 && s->shape[0] == x->shape[1] &&
                s->shape[0] != x->shape[x->ndim - 1];
    if (n->p.mode) return gb_tensor_resize(out[0], x->ndim, x->shape);
    return ew_bcast_infer(n, in, out);
}

const gb_op_def gb_opdef_PRELU = {"PRelu", 2, 2, 1, NULL, prelu_infer, prelu_forward, prelu_backward};

/* Variadic Max, Min, Sum, Mean. */
enum { VAR_MAX, VAR_MIN, VAR_SUM, VAR_MEAN };

static void var_forward(int kind, gb_node *n, const gb_tensor *const *in, gb_tensor *y) {
    idx_walk w;
    bc_walk(n, in, y, &w);
    for (int64_t i = 0; i < y->size; i++, idx_walk_next(&w)) {
        float v = in[0]->data[w.off[0]];
        for (int k = 1; k < n->nin; k++) {
            float u = in[k]->data[w.off[k]];
            v = kind == VAR_MAX ? (u > v ? u : v) : kind == VAR_MIN ? (u < v ? u : v) : v + u;
        }
        y->data[i] = kind == VAR_MEAN ? v / (float)n->nin : v;
    }
}

static void var_backward(int kind, gb_node *n, const gb_tensor *const *in, const gb_tensor *y,
                         gb_tensor *const *din, const gb_tensor *dy) {
    idx_walk w;
    bc_walk(n, in, y, &w);
    for (int64_t i = 0; i < y->size; i++, idx_walk_next(&w)) {
        float g = dy->data[i];
        if (kind == VAR_SUM || kind == VAR_MEAN) {
            if (kind == VAR_MEAN) g /= (float)n->nin;
            for (int k = 0; k < n->nin; k++)
                if (din[k]) din[k]->data[w.off[k]] += g;
            continue;
        }
        for (int k = 0; k < n->nin; k++)
            if (in[k]->data[w.off[k]] == y->data[i]) {
                if (din[k]) din[k]->data[w.off[k]] += g;
                break;
            }
    }
}

#define VAR_OP(ID, NAME, KIND)                                                           \
    static void ID##_fwd(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,   \
                         const gb_exec *ex) {                                            \
        (void)ex;                                                                        \
        var_forward(KIND, n, in, out[0]);                                                \
    }                                                                                    \
    static void ID##_bwd(gb_node *n, const gb_tensor *const *in,                         \
                         const gb_tensor *const *out, gb_tensor *const *din,             \
                         const gb_tensor *const *dout, const gb_exec *ex) {              \
        (void)ex;                                                                        \
        var_backward(KIND, n, in, out[0], din, dout[0]);                                 \
    }                                                                                    \
    const gb_op_def gb_opdef_##ID = {NAME, 1, GB_MAX_NODE_IO, 1, NULL, ew_bcast_infer, ID##_fwd, ID##_bwd};

VAR_OP(MAX, "Max", VAR_MAX)
VAR_OP(MIN, "Min", VAR_MIN)
VAR_OP(SUM, "Sum", VAR_SUM)
VAR_OP(MEAN, "Mean", VAR_MEAN)
