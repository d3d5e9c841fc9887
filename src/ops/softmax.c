/* softmax.c — Softmax and LogSoftmax along one axis (ONNX opset 13: default
 * axis -1; opsets < 13: default axis 1 and the input seen as a 2-D matrix
 * (dims before the axis, dims from the axis on), node->opset tells which).
 *
 * Stable forms: with m = max_k x_k,
 *   softmax(x)_k    = e^(x_k - m) / sum_j e^(x_j - m)
 *   logsoftmax(x)_k = x_k - m - log sum_j e^(x_j - m)
 * Backward (Jacobian-vector products, written with the saved output y):
 *   Softmax:    dx = y * (dy - sum_j dy_j y_j)
 *   LogSoftmax: dx = dy - e^y * sum_j dy_j
 */
#include "internal.h"

#include <math.h>

static gb_status softmax_init(gb_node *n) {
    return gb_attr_int(n, "axis", n->opset < 13 ? 1 : -1, &n->p.axis);
}

static gb_status softmax_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    if (!in[0]) return gb_error(GB_ERR_FORMAT, "%s needs an input", n->op_type);
    const gb_tensor *x = &in[0]->t;
    if (n->p.axis < -x->ndim || n->p.axis >= x->ndim)
        return gb_error(GB_ERR_SHAPE, "%s axis %lld is outside [-%d, %d) for an input of rank %d",
                        n->op_type, (long long)n->p.axis, x->ndim, x->ndim, x->ndim);
    return gb_tensor_resize(out[0], x->ndim, x->shape);
}

/* The tensor as (outer, L, inner): softmax runs along L, stride inner. */
static void sm_dims(const gb_node *n, const gb_tensor *x, int64_t *outer, int64_t *L,
                    int64_t *inner) {
    int axis = (int)(n->p.axis < 0 ? n->p.axis + x->ndim : n->p.axis);
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= x->shape[i];
    for (int i = axis + 1; i < x->ndim; i++) *inner *= x->shape[i];
    *L = x->shape[axis];
    if (n->opset < 13) { /* the input as a 2-D (outer, rest) matrix */
        *L *= *inner;
        *inner = 1;
    }
}

/* One line of L elements at stride s: y = softmax(x) or logsoftmax(x). */
static void sm_line(const float *x, float *y, int64_t L, int64_t s, int log_out) {
    float m = -INFINITY;
    for (int64_t k = 0; k < L; k++) m = GB_MAX(m, x[k * s]);
    if (m == -INFINITY) m = 0; /* all -inf: keep x - m from being NaN */
    double sum = 0;
    for (int64_t k = 0; k < L; k++) sum += exp((double)(x[k * s] - m));
    if (log_out) {
        float lse = (float)log(sum);
        for (int64_t k = 0; k < L; k++) y[k * s] = x[k * s] - m - lse;
    } else {
        float inv = (float)(1.0 / sum);
        for (int64_t k = 0; k < L; k++) y[k * s] = expf(x[k * s] - m) * inv;
    }
}

/* X, Y: (outer.., L, inner..), any rank; lines along the axis run in parallel. */
static void sm_forward(gb_node *n, const gb_tensor *X, gb_tensor *Y, int log_out) {
    int64_t outer, L, inner;
    sm_dims(n, X, &outer, &L, &inner);
    const int64_t lines = outer * inner;
#pragma omp parallel for schedule(static) if (X->size > 65536)
    for (int64_t t = 0; t < lines; t++) {
        int64_t base = (t / inner) * L * inner + t % inner;
        sm_line(X->data + base, Y->data + base, L, inner, log_out);
    }
}

/* Y, dY, dX: the shape of the input; dX accumulates. */
static void sm_backward(gb_node *n, const gb_tensor *Y, const gb_tensor *dY, gb_tensor *dX,
                        int log_out) {
    if (!dX) return;
    int64_t outer, L, inner;
    sm_dims(n, Y, &outer, &L, &inner);
    const int64_t lines = outer * inner;
#pragma omp parallel for schedule(static) if (Y->size > 65536)
    for (int64_t t = 0; t < lines; t++) {
        int64_t base = (t / inner) * L * inner + t % inner;
        const float *y = Y->data + base, *dy = dY->data + base;
        float *dx = dX->data + base;
        double dot = 0;
        if (log_out) {
            for (int64_t k = 0; k < L; k++) dot += dy[k * inner];
            for (int64_t k = 0; k < L; k++)
                dx[k * inner] += dy[k * inner] - expf(y[k * inner]) * (float)dot;
        } else {
            for (int64_t k = 0; k < L; k++) dot += (double)dy[k * inner] * y[k * inner];
            for (int64_t k = 0; k < L; k++)
                dx[k * inner] += y[k * inner] * (dy[k * inner] - (float)dot);
        }
    }
}

static void softmax_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                            const gb_exec *ex) {
    (void)ex;
    sm_forward(n, in[0], out[0], 0);
}

static void softmax_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                             gb_tensor *const *din, const gb_tensor *const *dout,
                             const gb_exec *ex) {
    (void)in, (void)ex;
    sm_backward(n, out[0], dout[0], din[0], 0);
}

static void log_softmax_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                                const gb_exec *ex) {
    (void)ex;
    sm_forward(n, in[0], out[0], 1);
}

static void log_softmax_backward(gb_node *n, const gb_tensor *const *in,
                                 const gb_tensor *const *out, gb_tensor *const *din,
                                 const gb_tensor *const *dout, const gb_exec *ex) {
    (void)in, (void)ex;
    sm_backward(n, out[0], dout[0], din[0], 1);
}

const gb_op_def gb_opdef_SOFTMAX = {"Softmax", 1, 1, 1, softmax_init, softmax_infer,
                                    softmax_forward, softmax_backward};
const gb_op_def gb_opdef_LOG_SOFTMAX = {"LogSoftmax", 1, 1, 1, softmax_init, softmax_infer,
                                        log_softmax_forward, log_softmax_backward};
