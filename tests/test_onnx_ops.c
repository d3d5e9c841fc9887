/* test_onnx_ops.c — finite-difference gradient checks for the operators
 * added for ONNX import (src/ops/{math,layout,reduce,norm,resize,
 * conv_transpose,special,compare,expand,reduce_more,layernorm}.c; the ops
 * without gradient are checked on their values), plus constant folding and plan-time shape
 * computations (src/graph/fold.c) and the pre-13 Softmax.
 *
 * Each case is a one-node graph: the image input, constant inputs (integer
 * axes, pads, indices, as ONNX gives them) and trainable parameters, checked
 * by gradcheck_model (tests/gradcheck.h) for d/dx and every d/dparam.
 * Inputs are kept off kinks by their ranges, or checked kink-aware. */
#include "check.h"
#include "gradcheck.h"

typedef struct builder {
    gb_model *m;
    int in[GB_MAX_NODE_IO], nin;
    gb_rng r;
    gb_tensor *x;
} builder;

static builder b_new(int xnd, const int64_t *xs, float lo, float hi, int64_t opset) {
    builder b = {0};
    gb_rng_seed(&b.r, 11, (uint64_t)xnd);
    b.m = gb_model_alloc();
    b.m->opset = opset;
    b.m->in_ndim = xnd;
    memcpy(b.m->in_shape, xs, (size_t)xnd * sizeof *xs);
    b.in[b.nin++] = gb_model_add_value(b.m, "x", GB_VAL_INPUT, NULL);
    b.x = gb_tensor_new(xnd, xs);
    gc_fill_uniform(b.x, &b.r, lo, hi);
    return b;
}

static void b_ints(builder *b, const int64_t *v, int n) {
    char name[16];
    snprintf(name, sizeof name, "c%d", b->nin);
    int64_t len = n;
    gb_tensor *t = gb_tensor_new(1, &len);
    for (int i = 0; i < n; i++) t->data[i] = (float)v[i];
    int k = gb_model_add_value(b->m, name, GB_VAL_CONST, t);
    b->m->vals[k].i64 = gb_malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (n) memcpy(b->m->vals[k].i64, v, (size_t)n * sizeof(int64_t));
    gb_tensor_free(t);
    b->in[b->nin++] = k;
}

static void b_floats(builder *b, int nd, const int64_t *shape, const float *v) {
    char name[16];
    snprintf(name, sizeof name, "c%d", b->nin);
    gb_tensor *t = gb_tensor_new(nd, shape);
    memcpy(t->data, v, (size_t)t->size * sizeof(float));
    b->in[b->nin++] = gb_model_add_value(b->m, name, GB_VAL_CONST, t);
    gb_tensor_free(t);
}

static void b_param(builder *b, int nd, const int64_t *shape, float lo, float hi) {
    char name[16];
    snprintf(name, sizeof name, "p%d", b->nin);
    gb_tensor *t = gb_tensor_new(nd, shape);
    gc_fill_uniform(t, &b->r, lo, hi);
    b->in[b->nin++] = gb_model_add_value(b->m, name, GB_VAL_PARAM, t);
    gb_tensor_free(t);
}

static void b_none(builder *b) { b->in[b->nin++] = -1; }

/* Adds the node with nout outputs (the first is the model output). */
static gb_node *b_node(builder *b, const char *op, int nout) {
    int out[GB_MAX_NODE_IO];
    for (int k = 0; k < nout; k++) {
        char name[16];
        snprintf(name, sizeof name, "y%d", k);
        out[k] = gb_model_add_value(b->m, name, GB_VAL_ACT, NULL);
    }
    b->m->output = out[0];
    int ni = gb_model_add_node(b->m, op, op, b->in, b->nin, out, nout);
    return &b->m->nodes[ni];
}

/* Finalizes and gradchecks; frees the builder. */
static void b_check(builder *b, const char *label, int kink_aware, double h) {
    gb_status s = gb_model_finalize(b->m);
    CHECKF(s == GB_OK, "%s: finalize: %s", label, gb_last_error());
    if (s == GB_OK) {
        gc_opts o = gc_default_opts();
        o.kink_aware = kink_aware;
        if (h > 0) o.h = h;
        CHECKF(gradcheck_model(b->m, b->x, &o, label) == 0, "%s", label);
    }
    gb_model_free(b->m);
    gb_tensor_free(b->x);
}

static const int64_t X4[4] = {2, 3, 4, 5};

/* ---- math.c ---- */

static void unary(const char *op, float lo, float hi, int kinks) {
    builder b = b_new(4, X4, lo, hi, 13);
    b_node(&b, op, 1);
    b_check(&b, op, kinks, 0);
}

static void test_unary_math(void) {
    unary("Neg", -2, 2, 0);
    unary("Abs", -2, 2, 1);
    unary("Exp", -2, 2, 0);
    unary("Log", 0.5f, 2, 0);
    unary("Sqrt", 0.5f, 2, 0);
    unary("Reciprocal", 0.5f, 2, 0);
    unary("Elu", -2, 2, 1);
    unary("Selu", -2, 2, 1);
    unary("HardSigmoid", -4, 4, 1);
    unary("HardSwish", -4, 4, 1);
    unary("Softplus", -3, 3, 0);
    unary("Softsign", -3, 3, 0);
}

static void test_pow_prelu(void) {
    builder b = b_new(4, X4, 0.5f, 1.5f, 13);
    int64_t es[2] = {4, 1};
    b_param(&b, 2, es, 0.5f, 2.5f);
    b_node(&b, "Pow", 1);
    b_check(&b, "Pow", 0, 1e-3);

    b = b_new(4, X4, -2, 2, 13);
    int64_t ss[3] = {3, 1, 1};
    b_param(&b, 3, ss, 0.1f, 0.5f);
    b_node(&b, "PRelu", 1);
    b_check(&b, "PRelu", 1, 0);
}

static void test_variadic(void) {
    const char *ops[] = {"Max", "Min", "Sum", "Mean"};
    for (int i = 0; i < 4; i++) {
        builder b = b_new(4, X4, -1, 1, 13);
        int64_t s1[1] = {5}, s2[3] = {3, 1, 5};
        b_param(&b, 1, s1, -1, 1);
        b_param(&b, 3, s2, -1, 1);
        b_node(&b, ops[i], 1);
        b_check(&b, ops[i], 1, 1e-3);
    }
}

/* ---- reduce.c ---- */

static void test_reduce(void) {
    builder b = b_new(4, X4, -1, 1, 13);
    int64_t ax[2] = {1, -1};
    b_ints(&b, ax, 2);
    gb_node *n = b_node(&b, "ReduceSum", 1);
    gb_node_add_int(n, "keepdims", 0);
    b_check(&b, "ReduceSum", 0, 0);

    b = b_new(4, X4, -1, 1, 13);
    n = b_node(&b, "ReduceMean", 1);
    gb_node_add_ints(n, "axes", (int64_t[]){2, 3}, 2);
    b_check(&b, "ReduceMean", 0, 0);

    const char *ext[] = {"ReduceMax", "ReduceMin"};
    for (int i = 0; i < 2; i++) {
        b = b_new(4, X4, -1, 1, 13);
        n = b_node(&b, ext[i], 1);
        gb_node_add_ints(n, "axes", (int64_t[]){0, 2}, 2);
        b_check(&b, ext[i], 1, 1e-3);
    }
    b = b_new(4, X4, -1, 1, 13);
    b_node(&b, "GlobalMaxPool", 1);
    b_check(&b, "GlobalMaxPool", 1, 1e-3);
}

/* ---- layout.c ---- */

static void test_layout(void) {
    builder b = b_new(4, X4, -1, 1, 13);
    gb_node *n = b_node(&b, "Transpose", 1);
    gb_node_add_ints(n, "perm", (int64_t[]){0, 2, 3, 1}, 4);
    b_check(&b, "Transpose", 0, 0);

    b = b_new(4, X4, -1, 1, 13);
    b_ints(&b, (int64_t[]){1, -1, 0}, 3);           /* starts */
    b_ints(&b, (int64_t[]){3, INT64_MIN, 2}, 3);    /* ends */
    b_ints(&b, (int64_t[]){1, 3, 2}, 3);            /* axes */
    b_ints(&b, (int64_t[]){1, -2, 1}, 3);           /* steps */
    b_node(&b, "Slice", 1);
    b_check(&b, "Slice", 0, 0);

    b = b_new(4, (int64_t[]){2, 1, 4, 1}, -1, 1, 13);
    b_ints(&b, (int64_t[]){1, 3}, 2);
    b_node(&b, "Squeeze", 1);
    b_check(&b, "Squeeze", 0, 0);

    b = b_new(4, X4, -1, 1, 11); /* opset 11: axes as an attribute */
    n = b_node(&b, "Unsqueeze", 1);
    gb_node_add_ints(n, "axes", (int64_t[]){0, -1}, 2);
    b_check(&b, "Unsqueeze", 0, 0);

    b = b_new(4, X4, -1, 1, 13);
    b_ints(&b, (int64_t[]){1, 3, 1}, 3);
    n = b_node(&b, "Split", 3);
    gb_node_add_int(n, "axis", 3);
    b.m->output = n->out[1];
    b_check(&b, "Split", 0, 0);

    b = b_new(4, X4, -1, 1, 13);
    b_ints(&b, (int64_t[]){2, -1, 0, 2}, 4);
    n = b_node(&b, "Gather", 1);
    gb_node_add_int(n, "axis", 2);
    b_check(&b, "Gather", 0, 0);

    const char *modes[] = {"constant", "reflect", "edge"};
    for (int i = 0; i < 3; i++) {
        b = b_new(4, X4, -1, 1, 13);
        b_ints(&b, (int64_t[]){0, 0, 2, -1, 0, 1, 1, 3}, 8);
        b_floats(&b, 0, NULL, (float[]){0.25f});
        n = b_node(&b, "Pad", 1);
        gb_node_add_string(n, "mode", modes[i]);
        b_check(&b, modes[i], 0, 0);
    }

    b = b_new(4, X4, -1, 1, 13);
    n = b_node(&b, "Cast", 1);
    gb_node_add_int(n, "to", 1);
    b_check(&b, "Cast", 0, 0);
}

/* ---- norm.c, resize.c, conv_transpose.c ---- */

static void test_norm(void) {
    builder b = b_new(4, X4, -1, 1, 13);
    int64_t c[1] = {3};
    b_param(&b, 1, c, 0.5f, 1.5f);
    b_param(&b, 1, c, -0.5f, 0.5f);
    b_node(&b, "InstanceNormalization", 1);
    b_check(&b, "InstanceNormalization", 0, 1e-3);

    b = b_new(4, (int64_t[]){2, 5, 3, 3}, -2, 2, 13);
    gb_node *n = b_node(&b, "LRN", 1);
    gb_node_add_int(n, "size", 3);
    gb_node_add_float(n, "alpha", 0.5f);
    b_check(&b, "LRN", 0, 1e-3);
}

static void test_resize(void) {
    const char *coords[] = {"half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"};
    for (int i = 0; i < 4; i++) {
        builder b = b_new(4, (int64_t[]){1, 2, 3, 4}, -1, 1, 13);
        b_none(&b);
        b_none(&b);
        b_ints(&b, (int64_t[]){1, 2, 7, 5}, 4);
        gb_node *n = b_node(&b, "Resize", 1);
        gb_node_add_string(n, "mode", "linear");
        gb_node_add_string(n, "coordinate_transformation_mode", coords[i]);
        b_check(&b, coords[i], 0, 0);
    }
    builder b = b_new(4, (int64_t[]){1, 2, 3, 4}, -1, 1, 13);
    b_none(&b);
    b_floats(&b, 1, (int64_t[]){4}, (float[]){1, 1, 2, 1.5f});
    gb_node *n = b_node(&b, "Resize", 1);
    gb_node_add_string(n, "mode", "nearest");
    b_check(&b, "Resize nearest", 0, 0);

    b = b_new(4, (int64_t[]){1, 2, 3, 4}, -1, 1, 9);
    b_floats(&b, 1, (int64_t[]){4}, (float[]){1, 1, 2, 2});
    b_node(&b, "Upsample", 1);
    b_check(&b, "Upsample", 0, 0);
}

static void test_conv_transpose(void) {
    for (int g = 1; g <= 2; g++) {
        builder b = b_new(4, (int64_t[]){2, 4, 3, 4}, -1, 1, 13);
        b_param(&b, 4, (int64_t[]){4, 3, 3, 2}, -1, 1);
        b_param(&b, 1, (int64_t[]){3 * g}, -1, 1);
        gb_node *n = b_node(&b, "ConvTranspose", 1);
        gb_node_add_ints(n, "strides", (int64_t[]){2, 3}, 2);
        gb_node_add_ints(n, "pads", (int64_t[]){1, 0, 0, 1}, 4);
        gb_node_add_ints(n, "output_padding", (int64_t[]){1, 0}, 2);
        gb_node_add_ints(n, "dilations", (int64_t[]){1, 2}, 2);
        gb_node_add_int(n, "group", g);
        b_check(&b, g == 1 ? "ConvTranspose" : "ConvTranspose group 2", 0, 1e-3);
    }
}

/* ---- folding and plan-time shapes ---- */

/* x (N, 2, 3) -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))
 * flattens per example as torch's x.view(x.size(0), -1) does, for any N;
 * Mul(c, Add(c, c)) on constants folds away at load. */
static void test_fold_and_shapes(void) {
    gb_model *m = gb_model_alloc();
    m->in_ndim = 3;
    m->in_shape[0] = -1, m->in_shape[1] = 2, m->in_shape[2] = 3;
    int x = gb_model_add_value(m, "x", GB_VAL_INPUT, NULL);
    int64_t one = 1;
    gb_tensor *t = gb_tensor_new(1, &one);
    t->data[0] = 0;
    int zero = gb_model_add_value(m, "zero", GB_VAL_CONST, t);
    m->vals[zero].i64 = gb_calloc(1, sizeof(int64_t));
    t->data[0] = -1;
    int minus = gb_model_add_value(m, "minus", GB_VAL_CONST, t);
    m->vals[minus].i64 = gb_malloc(sizeof(int64_t));
    m->vals[minus].i64[0] = -1;
    t->data[0] = 1.5f;
    int c = gb_model_add_value(m, "c", GB_VAL_CONST, t);
    gb_tensor_free(t);
    t = gb_tensor_new(0, NULL);
    int idx = gb_model_add_value(m, "idx", GB_VAL_CONST, t); /* scalar index: Gather drops the axis */
    m->vals[idx].i64 = gb_calloc(1, sizeof(int64_t));
    gb_tensor_free(t);
    const char *names[] = {"shape", "n", "n1", "target", "flat", "cc", "k", "y"};
    int v[8];
    for (int i = 0; i < 8; i++) v[i] = gb_model_add_value(m, names[i], GB_VAL_ACT, NULL);
    gb_model_add_node(m, "Shape", "s", &x, 1, &v[0], 1);
    gb_model_add_node(m, "Gather", "g", (int[]){v[0], idx}, 2, &v[1], 1);
    gb_model_add_node(m, "Unsqueeze", "u", (int[]){v[1], zero}, 2, &v[2], 1);
    gb_model_add_node(m, "Concat", "cat", (int[]){v[2], minus}, 2, &v[3], 1);
    gb_node_add_int(&m->nodes[3], "axis", 0);
    gb_model_add_node(m, "Reshape", "r", (int[]){x, v[3]}, 2, &v[4], 1);
    gb_model_add_node(m, "Add", "add", (int[]){c, c}, 2, &v[5], 1);
    gb_model_add_node(m, "Mul", "mul", (int[]){c, v[5]}, 2, &v[6], 1);
    gb_model_add_node(m, "Mul", "out", (int[]){v[4], v[6]}, 2, &v[7], 1);
    m->output = v[7];
    CHECK_OK(gb_model_finalize(m));
    CHECK(m->nnodes == 6); /* add and mul folded */
    CHECK(m->vals[v[6]].kind == GB_VAL_CONST && m->vals[v[6]].t.data[0] == 4.5f);
    CHECK(m->nodes[0].is_static && m->nodes[3].is_static && !m->nodes[4].is_static);
    for (int64_t N = 2; N <= 3; N++) {
        gb_tensor *xb = gb_tensor_new(3, (int64_t[]){N, 2, 3});
        for (int64_t i = 0; i < xb->size; i++) xb->data[i] = (float)i;
        const gb_tensor *y = NULL;
        CHECK_OK(gb_model_forward(m, xb, &y));
        CHECK(y && y->ndim == 2 && y->shape[0] == N && y->shape[1] == 6);
        CHECK(y && y->data[7] == 7 * 4.5f);
        gc_opts o = gc_default_opts();
        CHECK(gradcheck_model(m, xb, &o, "view flatten") == 0);
        gb_tensor_free(xb);
    }
    gb_model_free(m);
}

/* Softmax before opset 13 normalises over all dims from the axis on. */
static void test_softmax_opset11(void) {
    builder b = b_new(3, (int64_t[]){2, 3, 4}, -2, 2, 11);
    b_node(&b, "Softmax", 1);
    CHECK_OK(gb_model_finalize(b.m));
    const gb_tensor *y;
    CHECK_OK(gb_model_forward(b.m, b.x, &y));
    for (int n = 0; n < 2; n++) {
        double s = 0;
        for (int i = 0; i < 12; i++) s += y->data[n * 12 + i];
        CHECKF(fabs(s - 1) < 1e-5, "row %d sums to %g", n, s);
    }
    gc_opts o = gc_default_opts();
    CHECK(gradcheck_model(b.m, b.x, &o, "Softmax-11") == 0);
    gb_model_free(b.m);
    gb_tensor_free(b.x);
}


/* ---- special.c, compare.c, expand.c, reduce_more.c, layernorm.c ---- */

static void test_special(void) {
    static const struct {
        const char *op;
        float lo, hi;
        int kinks;
    } c[] = {{"Erf", -2, 2, 0},     {"Sin", -3, 3, 0},          {"Cos", -3, 3, 0},
             {"Tan", -1, 1, 0},     {"Asin", -0.8f, 0.8f, 0},   {"Acos", -0.8f, 0.8f, 0},
             {"Atan", -3, 3, 0},    {"Sinh", -2, 2, 0},         {"Cosh", -2, 2, 0},
             {"Asinh", -3, 3, 0},   {"Acosh", 1.2f, 3, 0},      {"Atanh", -0.8f, 0.8f, 0},
             {"Celu", -2, 2, 1},    {"Mish", -4, 4, 0},         {"ThresholdedRelu", -2, 0.95f, 0},
             {"ThresholdedRelu", 1.05f, 3, 0}, {"Floor", 0.05f, 0.95f, 0}, {"Ceil", 0.05f, 0.95f, 0},
             {"Round", 0.05f, 0.45f, 0}, {"Sign", 0.1f, 2, 0}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) unary(c[i].op, c[i].lo, c[i].hi, c[i].kinks);
    /* Mish against its definition at a few points (no node-suite case in
     * libonnx-testdata 1.12: Mish is opset 18). */
    builder b = b_new(1, (int64_t[]){4}, 0, 1, 18);
    b_node(&b, "Mish", 1);
    float xs[4] = {-3, -0.5f, 0.7f, 25};
    memcpy(b.x->data, xs, sizeof xs);
    CHECK_OK(gb_model_finalize(b.m));
    const gb_tensor *y = NULL;
    CHECK_OK(gb_model_forward(b.m, b.x, &y));
    for (int i = 0; y && i < 4; i++) {
        double want = xs[i] * tanh(log1p(exp((double)xs[i])));
        CHECKF(fabs(y->data[i] - want) < 1e-5 * (1 + fabs(want)), "Mish(%g) = %g, want %g", xs[i], y->data[i], want);
    }
    gb_model_free(b.m);
    gb_tensor_free(b.x);
}

/* Runs a finalized builder forward; returns y (owned by the model). */
static const gb_tensor *b_forward(builder *b) {
    const gb_tensor *y = NULL;
    CHECK_OK(gb_model_finalize(b->m));
    CHECK_OK(gb_model_forward(b->m, b->x, &y));
    return y;
}

static void b_free(builder *b) {
    gb_model_free(b->m);
    gb_tensor_free(b->x);
}

static void test_compare(void) {
    /* x (2, 3) in {-1, 0, 1} against c (3,) broadcast: every op's truth table. */
    static const float xv[6] = {-1, 0, 1, 1, 0, -1}, cv[3] = {0, 0, 1};
    static const char *ops[] = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"};
    for (int k = 0; k < 8; k++) {
        builder b = b_new(2, (int64_t[]){2, 3}, 0, 1, 16);
        memcpy(b.x->data, xv, sizeof xv);
        b_floats(&b, 1, (int64_t[]){3}, cv);
        b_node(&b, ops[k], 1);
        const gb_tensor *y = b_forward(&b);
        for (int i = 0; y && i < 6; i++) {
            float a = xv[i], c2 = cv[i % 3];
            int want = k == 0 ? a == c2 : k == 1 ? a < c2 : k == 2 ? a > c2 : k == 3 ? a <= c2
                     : k == 4 ? a >= c2 : k == 5 ? (a != 0 && c2 != 0) : k == 6 ? (a != 0 || c2 != 0)
                                                                       : ((a != 0) != (c2 != 0));
            CHECKF(y->data[i] == (float)want, "%s element %d: %g", ops[k], i, y->data[i]);
        }
        /* No gradient through a mask: backward leaves dx at zero. */
        gb_tensor *dy = gb_tensor_new(2, (int64_t[]){2, 3});
        for (int i = 0; i < 6; i++) dy->data[i] = 1;
        const gb_tensor *dx = NULL;
        CHECK_OK(gb_model_backward(b.m, dy, GB_GRAD_INPUT, &dx));
        for (int i = 0; dx && i < 6; i++) CHECK(dx->data[i] == 0);
        gb_tensor_free(dy);
        b_free(&b);
    }
    builder b = b_new(1, (int64_t[]){4}, 0, 1, 16);
    memcpy(b.x->data, (float[]){0, 2, -1, 0}, 4 * sizeof(float));
    b_node(&b, "Not", 1);
    const gb_tensor *y = b_forward(&b);
    CHECK(y && y->data[0] == 1 && y->data[1] == 0 && y->data[2] == 0 && y->data[3] == 1);
    b_free(&b);

    /* Where(cond (4, 1), x (2, 3, 4, 5), y (5,)): gradients to x and y. */
    b = b_new(4, X4, -1, 1, 16);
    b_floats(&b, 2, (int64_t[]){4, 1}, (float[]){1, 0, 0, 1});
    b_param(&b, 1, (int64_t[]){5}, -1, 1);
    int xin = b.in[0];
    b.in[0] = b.in[1], b.in[1] = xin; /* (cond, x, y) */
    b_node(&b, "Where", 1);
    b_check(&b, "Where", 0, 0);
}

static void test_expand_tile_range(void) {
    builder b = b_new(2, (int64_t[]){3, 1}, -1, 1, 13);
    b_ints(&b, (int64_t[]){2, 1, 4}, 3);
    b_node(&b, "Expand", 1);
    b_check(&b, "Expand", 0, 0);

    b = b_new(3, (int64_t[]){2, 1, 3}, -1, 1, 13);
    b_ints(&b, (int64_t[]){2, 3, 2}, 3);
    b_node(&b, "Tile", 1);
    b_check(&b, "Tile", 0, 0);

    /* Range on constants folds at load: x + Range(10, 1, -3) = x + (10, 7, 4). */
    b = b_new(1, (int64_t[]){3}, -1, 1, 13);
    int in0 = b.in[0];
    b.nin = 0;
    int64_t s0 = 10, s1 = 1, s2 = -3;
    b_ints(&b, &s0, 1), b_ints(&b, &s1, 1), b_ints(&b, &s2, 1);
    for (int k = 0; k < 3; k++) { /* scalars, as ONNX gives them */
        b.m->vals[b.in[k]].t.ndim = 0;
    }
    int r = gb_model_add_value(b.m, "range", GB_VAL_ACT, NULL);
    gb_model_add_node(b.m, "Range", "range", b.in, 3, &r, 1);
    b.nin = 0;
    b.in[b.nin++] = in0;
    b.in[b.nin++] = r;
    b_node(&b, "Add", 1);
    const gb_tensor *y = b_forward(&b);
    CHECK(b.m->nnodes == 1); /* Range folded */
    for (int i = 0; y && i < 3; i++) CHECK(fabsf(y->data[i] - b.x->data[i] - (float)(10 - 3 * i)) < 1e-6f);
    b_free(&b);
}

static void test_reduce_more(void) {
    const char *ops[] = {"ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"};
    for (int i = 0; i < 6; i++) {
        float lo = i == 4 ? 0.5f : -1, hi = i == 4 ? 2 : 1;
        builder b = b_new(4, X4, lo, hi, 13);
        gb_node *n = b_node(&b, ops[i], 1);
        gb_node_add_ints(n, "axes", (int64_t[]){1, 3}, 2);
        gb_node_add_int(n, "keepdims", i % 2);
        b_check(&b, ops[i], i == 1, 1e-3);
    }
    /* ReduceProd over C at exact zeros: one zero in slot 0, two in slot 1
     * (d/dx of a zero is the product of the others; two zeros give 0). */
    builder b = b_new(4, X4, 0.5f, 1.5f, 13);
    b.x->data[0] = 0, b.x->data[1] = 0, b.x->data[21] = 0;
    gb_node *n = b_node(&b, "ReduceProd", 1);
    gb_node_add_ints(n, "axes", (int64_t[]){1}, 1);
    b_check(&b, "ReduceProd zeros", 0, 1e-3);

    /* ArgMax/ArgMin, with ties resolved first or last. */
    for (int k = 0; k < 4; k++) {
        b = b_new(2, (int64_t[]){2, 4}, 0, 1, 13);
        memcpy(b.x->data, (float[]){1, 3, 3, 0, 2, 0, 2, 0}, 8 * sizeof(float));
        n = b_node(&b, k < 2 ? "ArgMax" : "ArgMin", 1);
        gb_node_add_int(n, "axis", -1);
        gb_node_add_int(n, "keepdims", 0);
        gb_node_add_int(n, "select_last_index", k % 2);
        const gb_tensor *y = b_forward(&b);
        static const float want[4][2] = {{1, 0}, {2, 2}, {3, 1}, {3, 3}};
        CHECKF(y && y->ndim == 1 && y->data[0] == want[k][0] && y->data[1] == want[k][1], "Arg case %d", k);
        b_free(&b);
    }
}

static void test_layernorm(void) {
    /* axis -1 and 1, through Y and through the Mean and InvStdDev outputs. */
    for (int c = 0; c < 4; c++) {
        int64_t axis = c == 1 ? 1 : -1;
        int64_t D = axis == 1 ? 60 : 5;
        builder b = b_new(4, X4, -2, 2, 17);
        int64_t ds[1] = {D};
        b_param(&b, 1, ds, 0.5f, 1.5f);
        b_param(&b, 1, ds, -0.5f, 0.5f);
        gb_node *n = b_node(&b, "LayerNormalization", 3);
        gb_node_add_int(n, "axis", axis);
        gb_node_add_float(n, "epsilon", 1e-3f);
        if (c >= 2) b.m->output = n->out[c - 1];
        static const char *label[] = {"LayerNorm", "LayerNorm axis 1", "LayerNorm Mean", "LayerNorm InvStdDev"};
        b_check(&b, label[c], 0, 1e-3);
    }
}

int main(void) {
    RUN(test_unary_math);
    RUN(test_pow_prelu);
    RUN(test_variadic);
    RUN(test_reduce);
    RUN(test_layout);
    RUN(test_norm);
    RUN(test_resize);
    RUN(test_conv_transpose);
    RUN(test_fold_and_shapes);
    RUN(test_softmax_opset11);
    RUN(test_special);
    RUN(test_compare);
    RUN(test_expand_tile_range);
    RUN(test_reduce_more);
    RUN(test_layernorm);
    CHECK_DONE();
}
