/* test_unary.c — gradient checks for the elementwise activations. */
#include "check.h"
#include "gradcheck.h"

static void check_unary(const char *op, float lo, float hi) {
    gb_rng r;
    gb_rng_seed(&r, 1, 1);
    int64_t xs[4] = {2, 3, 4, 5};
    gc_case c = gc_single_op(op, 4, xs, 0, NULL, NULL, &r);
    if (strcmp(op, "LeakyRelu") == 0) gb_node_add_float(c.node, "alpha", 0.2f);
    if (strcmp(op, "Clip") == 0) {
        gb_node_add_float(c.node, "min", -0.5f);
        gb_node_add_float(c.node, "max", 0.6f);
    }
    CHECK(gc_finalize(&c) == 0);
    gc_fill_uniform(c.x, &r, lo, hi);
    /* Keep inputs off the kinks (0 for ReLU, the Clip bounds) by more than h. */
    for (int64_t i = 0; i < c.x->size; i++) {
        float *v = &c.x->data[i];
        if (fabsf(*v) < 0.05f) *v += 0.1f;
        if (fabsf(*v + 0.5f) < 0.05f || fabsf(*v - 0.6f) < 0.05f) *v += 0.12f;
    }
    gc_opts o = gc_default_opts();
    CHECKF(gradcheck_model(c.m, c.x, &o, op) == 0, "%s", op);
    gc_free(&c);
}

static void test_relu(void) { check_unary("Relu", -2, 2); }
static void test_leaky(void) { check_unary("LeakyRelu", -2, 2); }
static void test_sigmoid(void) { check_unary("Sigmoid", -4, 4); }
static void test_tanh(void) { check_unary("Tanh", -2, 2); }
static void test_clip(void) { check_unary("Clip", -1, 1); }
static void test_identity(void) { check_unary("Identity", -1, 1); }

int main(void) {
    RUN(test_relu);
    RUN(test_leaky);
    RUN(test_sigmoid);
    RUN(test_tanh);
    RUN(test_clip);
    RUN(test_identity);
    CHECK_DONE();
}
