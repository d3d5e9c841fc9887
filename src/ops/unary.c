/* unary.c — elementwise activations: Relu, LeakyRelu, Sigmoid, Tanh, Clip,
 * Identity. Forward and backward side by side; backward accumulates. */
#include "internal.h"

#include <math.h>

/* Output has the shape of input 0. */
static gb_status infer_same(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    (void)n;
    return gb_tensor_resize(out[0], in[0]->t.ndim, in[0]->t.shape);
}

/* ---- Relu: y = max(x, 0) ---- */

static void relu_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                         const gb_exec *ex) {
    (void)n, (void)ex;
    const float *x = in[0]->data;
    float *y = out[0]->data;
    int64_t N = in[0]->size;
#pragma omp parallel for schedule(static) if (N > 65536)
    for (int64_t i = 0; i < N; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

static void relu_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                          gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)in, (void)ex;
    if (!din[0]) return;
    const float *y = out[0]->data, *dy = dout[0]->data;
    float *dx = din[0]->data;
    int64_t N = out[0]->size;
    if (n->grad_overwrite) { /* dx was not zeroed: this node is its only writer */
#pragma omp parallel for schedule(static) if (N > 65536)
        for (int64_t i = 0; i < N; i++) dx[i] = y[i] > 0 ? dy[i] : 0.0f;
        return;
    }
#pragma omp parallel for schedule(static) if (N > 65536)
    for (int64_t i = 0; i < N; i++) dx[i] += y[i] > 0 ? dy[i] : 0.0f; /* a select: vectorizes */
}

const gb_op_def gb_opdef_RELU = {"Relu", 1, 1, 1, NULL, infer_same, relu_forward, relu_backward};

/* ---- LeakyRelu: y = x if x >= 0 else alpha x (ONNX default alpha 0.01) ---- */

static gb_status leaky_init(gb_node *n) { return gb_attr_float(n, "alpha", 0.01f, &n->p.alpha); }

static void leaky_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                          const gb_exec *ex) {
    (void)ex;
    const float *x = in[0]->data, a = n->p.alpha;
    float *y = out[0]->data;
    for (int64_t i = 0; i < in[0]->size; i++) y[i] = x[i] >= 0 ? x[i] : a * x[i];
}

static void leaky_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                           gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)out, (void)ex;
    if (!din[0]) return;
    const float *x = in[0]->data, *dy = dout[0]->data, a = n->p.alpha;
    float *dx = din[0]->data;
    for (int64_t i = 0; i < in[0]->size; i++) dx[i] += x[i] >= 0 ? dy[i] : a * dy[i];
}

const gb_op_def gb_opdef_LEAKY_RELU = {"LeakyRelu", 1, 1, 1, leaky_init, infer_same,
                                       leaky_forward, leaky_backward};

/* ---- Sigmoid: y = 1 / (1 + e^-x), dy/dx = y (1 - y) ---- */

static void sigmoid_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                            const gb_exec *ex) {
    (void)n, (void)ex;
    const float *x = in[0]->data;
    float *y = out[0]->data;
    for (int64_t i = 0; i < in[0]->size; i++) {
        /* Split by sign so exp never overflows. */
        if (x[i] >= 0) {
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        } else {
            float e = expf(x[i]);
            y[i] = e / (1.0f + e);
        }
    }
}

static void sigmoid_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                             gb_tensor *const *din, const gb_tensor *const *dout,
                             const gb_exec *ex) {
    (void)n, (void)in, (void)ex;
    if (!din[0]) return;
    const float *y = out[0]->data, *dy = dout[0]->data;
    float *dx = din[0]->data;
    for (int64_t i = 0; i < out[0]->size; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}

const gb_op_def gb_opdef_SIGMOID = {"Sigmoid", 1, 1, 1, NULL, infer_same, sigmoid_forward,
                                    sigmoid_backward};

/* ---- Tanh: dy/dx = 1 - y^2 ---- */

static void tanh_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                         const gb_exec *ex) {
    (void)n, (void)ex;
    for (int64_t i = 0; i < in[0]->size; i++) out[0]->data[i] = tanhf(in[0]->data[i]);
}

static void tanh_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                          gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)n, (void)in, (void)ex;
    if (!din[0]) return;
    const float *y = out[0]->data, *dy = dout[0]->data;
    for (int64_t i = 0; i < out[0]->size; i++) din[0]->data[i] += dy[i] * (1.0f - y[i] * y[i]);
}

const gb_op_def gb_opdef_TANH = {"Tanh", 1, 1, 1, NULL, infer_same, tanh_forward, tanh_backward};

/* ---- Clip: y = min(max(x, lo), hi). Opset >= 11 gives lo/hi as optional
 * inputs 1 and 2 (constants); opset 6 as attributes min/max. The gradient
 * passes where lo < x < hi (a subgradient choice at the bounds: 0, as torch). ---- */

static gb_status clip_init(gb_node *n) {
    GB_TRY(gb_attr_float(n, "min", -INFINITY, &n->p.min));
    return gb_attr_float(n, "max", INFINITY, &n->p.max);
}

static gb_status clip_infer(gb_node *n, const gb_value *const *in, gb_tensor **out) {
    for (int k = 1; k < n->nin && k < 3; k++) {
        if (!in[k]) continue;
        if (!gb_value_known(in[k]))
            return gb_error(GB_ERR_UNSUPPORTED, "Clip bounds must be constants");
        if (in[k]->t.size != 1) return gb_error(GB_ERR_SHAPE, "Clip bound is not a scalar");
        if (k == 1) n->p.min = in[k]->t.data[0];
        else n->p.max = in[k]->t.data[0];
    }
    return infer_same(n, in, out);
}

static void clip_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                         const gb_exec *ex) {
    (void)ex;
    const float lo = n->p.min, hi = n->p.max;
    for (int64_t i = 0; i < in[0]->size; i++) {
        float v = in[0]->data[i];
        out[0]->data[i] = v < lo ? lo : (v > hi ? hi : v);
    }
}

static void clip_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                          gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex) {
    (void)out, (void)ex;
    if (!din[0]) return;
    const float lo = n->p.min, hi = n->p.max;
    for (int64_t i = 0; i < in[0]->size; i++) {
        float v = in[0]->data[i];
        if (v > lo && v < hi) din[0]->data[i] += dout[0]->data[i];
    }
}

const gb_op_def gb_opdef_CLIP = {"Clip", 1, 3, 1, clip_init, clip_infer, clip_forward,
                                 clip_backward};

/* ---- Identity ---- */

static void identity_forward(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                             const gb_exec *ex) {
    (void)n, (void)ex;
    memcpy(out[0]->data, in[0]->data, (size_t)in[0]->size * sizeof(float));
}

static void identity_backward(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                              gb_tensor *const *din, const gb_tensor *const *dout,
                              const gb_exec *ex) {
    (void)n, (void)in, (void)out, (void)ex;
    if (!din[0]) return;
    for (int64_t i = 0; i < dout[0]->size; i++) din[0]->data[i] += dout[0]->data[i];
}

const gb_op_def gb_opdef_IDENTITY = {"Identity", 1, 1, 1, NULL, infer_same, identity_forward,
                                     identity_backward};
