/* test_softmax.c — Softmax and LogSoftmax along each axis: values against a
 * direct double-precision evaluation, stability with logits of 1e4,
 * finite-difference gradchecks, and bad axes. */
#include "check.h"
#include "direct_op.h"
#include "gradcheck.h"

/* Reference along axis ax of x (rank nd), in double. */
static int reference_ok(const gb_tensor *x, const gb_tensor *y, int ax, int log_out) {
    int64_t outer = 1, inner = 1, L = x->shape[ax];
    for (int i = 0; i < ax; i++) outer *= x->shape[i];
    for (int i = ax + 1; i < x->ndim; i++) inner *= x->shape[i];
    int bad = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const float *xl = x->data + o * L * inner + in;
            const float *yl = y->data + o * L * inner + in;
            double m = -INFINITY, s = 0;
            for (int64_t k = 0; k < L; k++) m = fmax(m, xl[k * inner]);
            for (int64_t k = 0; k < L; k++) s += exp(xl[k * inner] - m);
            for (int64_t k = 0; k < L; k++) {
                double want = log_out ? xl[k * inner] - m - log(s) : exp(xl[k * inner] - m) / s;
                if (!(fabs(yl[k * inner] - want) <= 1e-5 * (1 + fabs(want)))) bad++;
            }
        }
    return bad;
}

static void check_op(const char *op, int log_out) {
    gb_rng r;
    gb_rng_seed(&r, 31, 1);
    const struct {
        int nd;
        int64_t s[4];
        int64_t axis;
    } cases[] = {
        {2, {4, 10}, -1}, {2, {4, 10}, 0}, {3, {2, 3, 4}, 1}, {3, {2, 3, 4}, -1},
        {3, {2, 3, 4}, 0}, {4, {2, 3, 2, 2}, 2}, {1, {7}, 0}, {2, {3, 1}, -1},
    };
    gc_opts o = gc_default_opts();
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        gc_case c = gc_single_op(op, cases[k].nd, cases[k].s, 0, NULL, NULL, &r);
        if (k != 0) gb_node_add_int(c.node, "axis", cases[k].axis); /* case 0: the default */
        char label[48];
        snprintf(label, sizeof label, "%s case %d", op, k);
        CHECKF(gc_finalize(&c) == 0, "%s", label);
        gc_fill_uniform(c.x, &r, -3, 3);
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(c.m, c.x, &y));
        int ax = (int)(cases[k].axis < 0 ? cases[k].axis + cases[k].nd : cases[k].axis);
        CHECKF(reference_ok(c.x, y, ax, log_out) == 0, "%s forward", label);
        CHECKF(gradcheck_model(c.m, c.x, &o, label) == 0, "%s", label);
        /* Huge logits: subtracting the max keeps everything finite. */
        for (int64_t i = 0; i < c.x->size; i++) c.x->data[i] *= 1e4f / 3;
        CHECK_OK(gb_model_forward(c.m, c.x, &y));
        int finite = 1;
        for (int64_t i = 0; i < y->size; i++) finite &= isfinite(y->data[i]);
        CHECKF(finite, "%s with logits of 1e4", label);
        CHECKF(reference_ok(c.x, y, ax, log_out) == 0, "%s forward at 1e4", label);
        gc_free(&c);
    }
    /* A large batch goes through the threaded loop. */
    int64_t big[2] = {8192, 10};
    gc_case c = gc_single_op(op, 2, big, 0, NULL, NULL, &r);
    CHECK(gc_finalize(&c) == 0);
    const gb_tensor *y;
    CHECK_OK(gb_model_forward(c.m, c.x, &y));
    CHECK(reference_ok(c.x, y, 1, log_out) == 0);
    gc_free(&c);
    /* axis outside the rank */
    int64_t xs[2] = {2, 3};
    c = gc_single_op(op, 2, xs, 0, NULL, NULL, &r);
    gb_node_add_int(c.node, "axis", 2);
    CHECK(gb_model_finalize(c.m) == GB_ERR_SHAPE);
    gc_free(&c);
}

/* y = Add(OP(x), x): backward must add into x's gradient. */
static void check_fanout(const char *op) {
    gb_model *m = gb_model_alloc();
    int64_t xs[2] = {3, 4};
    m->in_ndim = 2;
    memcpy(m->in_shape, xs, sizeof xs);
    int x = gb_model_add_value(m, "x", GB_VAL_INPUT, NULL);
    int a = gb_model_add_value(m, "a", GB_VAL_ACT, NULL);
    int y = gb_model_add_value(m, "y", GB_VAL_ACT, NULL);
    m->output = y;
    gb_model_add_node(m, op, "op", &x, 1, &a, 1);
    gb_model_add_node(m, "Add", "add", (int[]){a, x}, 2, &y, 1);
    CHECK_OK(gb_model_finalize(m));
    gb_tensor *xt = gb_tensor_new(2, xs);
    gb_rng r;
    gb_rng_seed(&r, 32, 1);
    gc_fill_uniform(xt, &r, -2, 2);
    gc_opts o = gc_default_opts();
    CHECKF(gradcheck_model(m, xt, &o, op) == 0, "%s fan-out", op);
    gb_tensor_free(xt);
    gb_model_free(m);
}

static void test_softmax(void) {
    check_op("Softmax", 0);
    check_fanout("Softmax");
}

static void test_log_softmax(void) {
    check_op("LogSoftmax", 1);
    check_fanout("LogSoftmax");
}

/* Empty tensors: no lines to normalize. */
static void test_empty(void) {
    const int nd[1] = {2};
    const int64_t s[2][GB_MAX_DIMS] = {{0, 10}, {4, 0}};
    int64_t ys = -1;
    for (int k = 0; k < 2; k++) {
        CHECK_OK(direct_op_run(GB_OP_SOFTMAX, 1, nd, &s[k], 0, 0, &ys));
        CHECK(ys == 0);
        CHECK_OK(direct_op_run(GB_OP_LOG_SOFTMAX, 1, nd, &s[k], 1, 0, &ys));
        CHECK(ys == 0);
    }
}

int main(void) {
    RUN(test_softmax);
    RUN(test_log_softmax);
    RUN(test_empty);
    CHECK_DONE();
}
