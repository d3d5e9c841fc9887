/* test_binary.c — Add, Sub, Mul, Div with numpy broadcasting: forward and
 * backward against naive per-element reference loops (in double), finite-
 * difference gradchecks on broadcasting corner cases, constants and
 * activations as operands, and shape errors. */
#include "check.h"
#include "direct_op.h"
#include "gradcheck.h"

static const char *OPS[4] = {"Add", "Sub", "Mul", "Div"};

typedef struct shp {
    int nd;
    int64_t s[GB_MAX_DIMS];
} shp;

/* Flat index into t (aligned right against an output of rank r) of the
 * output element with multi-index idx: broadcast dims read index 0. */
static int64_t ref_index(const gb_tensor *t, int r, const int64_t *idx) {
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) {
        int64_t d = t->shape[i], k = idx[i + r - t->ndim];
        off = off * d + (d == 1 ? 0 : k);
    }
    return off;
}

static void unravel(int64_t i, int r, const int64_t *shape, int64_t *idx) {
    for (int d = r - 1; d >= 0; d--) {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
}

static double ref_op(int op, double a, double b) {
    switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    default: return a / b;
    }
}

/* Local derivatives d y / d a and d y / d b. */
static void ref_grad(int op, double a, double b, double *da, double *db) {
    switch (op) {
    case 0: *da = 1, *db = 1; break;
    case 1: *da = 1, *db = -1; break;
    case 2: *da = b, *db = a; break;
    default: *da = 1 / b, *db = -a / (b * b); break;
    }
}

static float *param_data(gb_model *m, const char *name) {
    return m->vals[gb_model_find_value(m, name)].t.data;
}

/* Denominators in +-[0.5, 1.5] so finite differences stay accurate. */
static void keep_off_zero(float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) v[i] = (v[i] < 0 ? -0.5f : 0.5f) + v[i];
}

static gc_case make_case(int op, shp a, shp b, gb_rng *r) {
    int nd[1] = {b.nd};
    int64_t ps[1][GB_MAX_DIMS];
    memcpy(ps[0], b.s, sizeof b.s);
    gc_case c = gc_single_op(OPS[op], a.nd, a.s, 1, nd, (const int64_t(*)[GB_MAX_DIMS])ps, r);
    if (b.nd == 0) {
        /* gc_single_op treats rank 0 as "omitted": add the scalar by hand. */
        gb_tensor *p = gb_tensor_new(0, NULL);
        p->data[0] = 0.7f;
        c.node->in[1] = gb_model_add_value(c.m, "p1", GB_VAL_PARAM, p);
        gb_tensor_free(p);
    }
    return c;
}

/* Forward and backward of one op on shapes a (the input) and b (a
 * parameter) against the reference loops. */
static int check_against_reference(int op, shp a, shp b, gb_rng *r) {
    gc_case c = make_case(op, a, b, r);
    int bad = gc_finalize(&c);
    if (bad) {
        gc_free(&c);
        return 1;
    }
    float *pb = param_data(c.m, "p1");
    const gb_tensor *B = &c.m->vals[gb_model_find_value(c.m, "p1")].t;
    if (op == 3) keep_off_zero(pb, B->size);
    const gb_tensor *y;
    CHECK_OK(gb_model_forward(c.m, c.x, &y));
    int r_ = y->ndim;
    int64_t idx[GB_MAX_DIMS];
    gb_tensor *R = gb_tensor_new(y->ndim, y->shape);
    gc_fill_uniform(R, r, -1, 1);
    double *ga = calloc((size_t)c.x->size, sizeof(double));
    double *gbv = calloc((size_t)B->size, sizeof(double));
    for (int64_t i = 0; i < y->size; i++) {
        unravel(i, r_, y->shape, idx);
        int64_t ia = ref_index(c.x, r_, idx), ib = ref_index(B, r_, idx);
        double av = c.x->data[ia], bv = B->data[ib], want = ref_op(op, av, bv);
        if (fabs(y->data[i] - want) > 1e-5 * (1 + fabs(want))) bad++;
        double da, db;
        ref_grad(op, av, bv, &da, &db);
        ga[ia] += R->data[i] * da;
        gbv[ib] += R->data[i] * db;
    }
    gb_model_zero_grad(c.m);
    const gb_tensor *dx;
    CHECK_OK(gb_model_backward(c.m, R, GB_GRAD_ALL, &dx));
    const float *dp = c.m->vals[gb_model_find_value(c.m, "p1")].grad.data;
    for (int64_t i = 0; i < c.x->size; i++)
        if (fabs(dx->data[i] - ga[i]) > 1e-4 * (1 + fabs(ga[i]))) bad++;
    for (int64_t i = 0; i < B->size; i++)
        if (fabs(dp[i] - gbv[i]) > 1e-4 * (1 + fabs(gbv[i]))) bad++;
    free(ga);
    free(gbv);
    gb_tensor_free(R);
    gc_free(&c);
    return bad;
}

static const shp PAIRS[][2] = {
    {{4, {2, 3, 4, 5}}, {4, {2, 3, 4, 5}}},
    {{4, {2, 3, 4, 5}}, {1, {5}}},
    {{1, {5}}, {4, {2, 3, 4, 5}}},
    {{4, {2, 3, 4, 5}}, {4, {1, 3, 1, 1}}},
    {{3, {1, 3, 1}}, {3, {2, 1, 4}}},
    {{2, {2, 3}}, {0, {0}}},
    {{0, {0}}, {2, {2, 3}}},
    {{0, {0}}, {0, {0}}},
    {{3, {3, 1, 5}}, {2, {4, 1}}},
    {{2, {1, 1}}, {3, {3, 1, 1}}},
    {{4, {2, 1, 4, 1}}, {3, {3, 1, 5}}},
    {{3, {2, 3, 4}}, {3, {2, 1, 4}}},
    {{2, {1, 4}}, {2, {3, 1}}},
};
#define NPAIRS ((int)(sizeof PAIRS / sizeof PAIRS[0]))

static void test_forward_backward_reference(void) {
    gb_rng r;
    gb_rng_seed(&r, 3, 1);
    for (int op = 0; op < 4; op++)
        for (int k = 0; k < NPAIRS; k++)
            CHECKF(check_against_reference(op, PAIRS[k][0], PAIRS[k][1], &r) == 0, "%s pair %d",
                   OPS[op], k);
}

/* Sizes past the threading threshold and the 4096-element chunking, with
 * inner rows that are not multiples of the chunk. */
static void test_large_fast_paths(void) {
    gb_rng r;
    gb_rng_seed(&r, 4, 1);
    const shp big[][2] = {
        {{4, {16, 3, 70, 70}}, {4, {16, 3, 70, 70}}}, /* same shape, one flat loop */
        {{4, {16, 3, 70, 70}}, {4, {1, 3, 1, 1}}},    /* per channel */
        {{4, {16, 1, 70, 70}}, {0, {0}}},             /* scalar */
        {{4, {16, 1, 70, 70}}, {1, {1}}},             /* scalar as (1) */
        {{1, {1}}, {4, {16, 1, 70, 70}}},             /* scalar first */
        {{4, {16, 3, 70, 70}}, {2, {70, 1}}},
    };
    for (int op = 0; op < 4; op++)
        for (int k = 0; k < (int)(sizeof big / sizeof big[0]); k++)
            CHECKF(check_against_reference(op, big[k][0], big[k][1], &r) == 0, "%s big %d",
                   OPS[op], k);
}

static void test_gradcheck(void) {
    gb_rng r;
    gb_rng_seed(&r, 5, 1);
    gc_opts o = gc_default_opts();
    for (int op = 0; op < 4; op++)
        for (int k = 0; k < NPAIRS; k++) {
            gc_case c = make_case(op, PAIRS[k][0], PAIRS[k][1], &r);
            if (gc_finalize(&c) == 0) {
                if (op == 3) {
                    const gb_tensor *B = &c.m->vals[gb_model_find_value(c.m, "p1")].t;
                    keep_off_zero(B->data, B->size);
                }
                char label[64];
                snprintf(label, sizeof label, "%s pair %d", OPS[op], k);
                CHECKF(gradcheck_model(c.m, c.x, &o, label) == 0, "%s", label);
            } else {
                CHECKF(0, "%s pair %d did not build", OPS[op], k);
            }
            gc_free(&c);
        }
}

/* (x - mean) / std with constant per-channel mean and scalar std, fed by an
 * activation, then x * x (both operands one value: gradients must add). */
static void test_const_and_act_operands(void) {
    gb_model *m = gb_model_alloc();
    int64_t xs[4] = {2, 3, 4, 4}, cs[4] = {1, 3, 1, 1};
    m->in_ndim = 4;
    memcpy(m->in_shape, xs, sizeof xs);
    gb_tensor *mean = gb_tensor_new(4, cs), *sd = gb_tensor_new(0, NULL);
    mean->data[0] = 0.1f, mean->data[1] = 0.2f, mean->data[2] = 0.3f;
    sd->data[0] = 0.25f;
    int x = gb_model_add_value(m, "x", GB_VAL_INPUT, NULL);
    int vm = gb_model_add_value(m, "mean", GB_VAL_CONST, mean);
    int vs = gb_model_add_value(m, "std", GB_VAL_CONST, sd);
    int a = gb_model_add_value(m, "a", GB_VAL_ACT, NULL);
    int b = gb_model_add_value(m, "b", GB_VAL_ACT, NULL);
    int c = gb_model_add_value(m, "c", GB_VAL_ACT, NULL);
    int d = gb_model_add_value(m, "d", GB_VAL_ACT, NULL);
    m->output = d;
    gb_model_add_node(m, "Identity", "id", &x, 1, &a, 1);
    gb_model_add_node(m, "Sub", "sub", (int[]){a, vm}, 2, &b, 1);
    gb_model_add_node(m, "Div", "div", (int[]){b, vs}, 2, &c, 1);
    gb_model_add_node(m, "Mul", "sq", (int[]){c, c}, 2, &d, 1);
    CHECK_OK(gb_model_finalize(m));
    gb_tensor *xt = gb_tensor_new(4, xs);
    gb_rng r;
    gb_rng_seed(&r, 6, 1);
    gc_fill_uniform(xt, &r, 0, 1);
    const gb_tensor *y;
    CHECK_OK(gb_model_forward(m, xt, &y));
    int bad = 0;
    for (int64_t i = 0; i < y->size; i++) {
        int ch = (int)(i / 16 % 3);
        double v = (xt->data[i] - mean->data[ch]) / 0.25;
        if (fabs(y->data[i] - v * v) > 1e-4 * (1 + v * v)) bad++;
    }
    CHECK(bad == 0);
    gc_opts o = gc_default_opts();
    CHECK(gradcheck_model(m, xt, &o, "normalize-square") == 0);
    gb_tensor_free(xt);
    gb_tensor_free(mean);
    gb_tensor_free(sd);
    gb_model_free(m);
}

static void expect_shape_error(int op, shp a, shp b) {
    gb_rng r;
    gb_rng_seed(&r, 7, 1);
    gc_case c = make_case(op, a, b, &r);
    gb_status s = gb_model_finalize(c.m);
    CHECKF(s == GB_ERR_SHAPE, "%s: got %s", OPS[op], gb_status_name(s));
    CHECKF(strstr(gb_last_error(), "cannot broadcast") && strstr(gb_last_error(), "node 'node'"),
           "message: %s", gb_last_error());
    /* A forward on the broken model must also refuse, not crash. */
    s = gb_model_forward(c.m, c.x, NULL);
    CHECK(s == GB_ERR_SHAPE);
    gc_free(&c);
}

static void test_bad_shapes(void) {
    expect_shape_error(0, (shp){2, {2, 3}}, (shp){1, {4}});
    expect_shape_error(1, (shp){4, {2, 3, 4, 5}}, (shp){4, {1, 2, 1, 1}});
    expect_shape_error(2, (shp){3, {2, 3, 4}}, (shp){2, {3, 5}});
    expect_shape_error(3, (shp){1, {3}}, (shp){2, {3, 2}});
}

/* Empty operands: nothing to compute, nothing touched. */
static void test_empty(void) {
    const int nd[2] = {2, 1};
    const int64_t s[2][GB_MAX_DIMS] = {{0, 3}, {3}};
    const int64_t s2[2][GB_MAX_DIMS] = {{4, 0}, {1}};
    int64_t ys = -1;
    for (int op = GB_OP_ADD; op <= GB_OP_DIV; op++) {
        CHECK_OK(direct_op_run(op, 2, nd, s, 0, 0, &ys));
        CHECK(ys == 0);
        CHECK_OK(direct_op_run(op, 2, nd, s2, 0, 0, &ys));
        CHECK(ys == 0);
    }
}

int main(void) {
    RUN(test_forward_backward_reference);
    RUN(test_large_fast_paths);
    RUN(test_gradcheck);
    RUN(test_const_and_act_operands);
    RUN(test_bad_shapes);
    RUN(test_empty);
    CHECK_DONE();
}
