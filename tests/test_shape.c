/* test_shape.c — Flatten, Reshape, Concat: output shapes and data against
 * direct index arithmetic, finite-difference gradchecks, and shape errors
 * (wrong Reshape size, non-constant shape, Concat mismatch, bad axes). */
#include "check.h"
#include "direct_op.h"
#include "gradcheck.h"

static int same_shape(const gb_tensor *t, int nd, const int64_t *s) {
    if (t->ndim != nd) return 0;
    for (int i = 0; i < nd; i++)
        if (t->shape[i] != s[i]) return 0;
    return 1;
}

/* ---- Flatten ---- */

static void test_flatten(void) {
    gb_rng r;
    gb_rng_seed(&r, 21, 1);
    int64_t xs[4] = {2, 3, 4, 5};
    const struct {
        int64_t axis;
        int64_t y[2];
    } cases[] = {{0, {1, 120}}, {1, {2, 60}}, {2, {6, 20}}, {3, {24, 5}},
                 {4, {120, 1}}, {-1, {24, 5}}, {-3, {2, 60}}, {-4, {1, 120}}};
    gc_opts o = gc_default_opts();
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        gc_case c = gc_single_op("Flatten", 4, xs, 0, NULL, NULL, &r);
        gb_node_add_int(c.node, "axis", cases[k].axis);
        char label[48];
        snprintf(label, sizeof label, "Flatten axis %lld", (long long)cases[k].axis);
        CHECKF(gc_finalize(&c) == 0, "%s", label);
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(c.m, c.x, &y));
        CHECKF(same_shape(y, 2, cases[k].y), "%s", label);
        CHECK(memcmp(y->data, c.x->data, (size_t)c.x->size * sizeof(float)) == 0);
        CHECKF(gradcheck_model(c.m, c.x, &o, label) == 0, "%s", label);
        gc_free(&c);
    }
    /* default axis 1 */
    gc_case c = gc_single_op("Flatten", 4, xs, 0, NULL, NULL, &r);
    CHECK(gc_finalize(&c) == 0);
    const gb_tensor *y;
    CHECK_OK(gb_model_forward(c.m, c.x, &y));
    CHECK(same_shape(y, 2, (int64_t[]){2, 60}));
    gc_free(&c);
    /* axis out of range */
    c = gc_single_op("Flatten", 4, xs, 0, NULL, NULL, &r);
    gb_node_add_int(c.node, "axis", 5);
    CHECK(gb_model_finalize(c.m) == GB_ERR_SHAPE);
    gc_free(&c);
}

/* ---- Reshape: the target is a CONST int64 value, built by hand ---- */

static gc_case reshape_case(int xnd, const int64_t *xs, int nt, const int64_t *target,
                            gb_value_kind shape_kind, int with_i64, gb_rng *r) {
    gc_case c = {0};
    c.m = gb_model_alloc();
    c.x = gb_tensor_new(xnd, xs);
    gc_fill_uniform(c.x, r, -1, 1);
    c.m->in_ndim = xnd;
    memcpy(c.m->in_shape, xs, (size_t)xnd * sizeof *xs);
    int64_t ts[1] = {nt};
    gb_tensor *t = gb_tensor_new(1, ts);
    for (int i = 0; i < nt; i++) t->data[i] = (float)target[i];
    int in[2];
    in[0] = gb_model_add_value(c.m, "x", GB_VAL_INPUT, NULL);
    in[1] = gb_model_add_value(c.m, "shape", shape_kind, t);
    if (with_i64) {
        gb_value *v = &c.m->vals[in[1]];
        v->i64 = gb_malloc((size_t)(nt ? nt : 1) * sizeof(int64_t));
        memcpy(v->i64, target, (size_t)nt * sizeof(int64_t));
    }
    gb_tensor_free(t);
    int out = gb_model_add_value(c.m, "y", GB_VAL_ACT, NULL);
    c.m->output = out;
    int ni = gb_model_add_node(c.m, "Reshape", "node", in, 2, &out, 1);
    c.node = &c.m->nodes[ni];
    return c;
}

static void test_reshape(void) {
    gb_rng r;
    gb_rng_seed(&r, 22, 1);
    int64_t xs[4] = {2, 3, 4, 5};
    const struct {
        int nt;
        int64_t t[4];
        int ny;
        int64_t y[4];
    } cases[] = {
        {2, {0, -1}, 2, {2, 60}},         {2, {-1, 5}, 2, {24, 5}},
        {3, {0, 0, -1}, 3, {2, 3, 20}},   {4, {5, 4, 3, 2}, 4, {5, 4, 3, 2}},
        {1, {-1}, 1, {120}},              {4, {0, 3, 0, 5}, 4, {2, 3, 4, 5}},
        {3, {2, -1, 10}, 3, {2, 6, 10}},
    };
    gc_opts o = gc_default_opts();
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        gc_case c = reshape_case(4, xs, cases[k].nt, cases[k].t, GB_VAL_CONST, k % 2 == 0, &r);
        char label[48];
        snprintf(label, sizeof label, "Reshape case %d", k);
        CHECKF(gc_finalize(&c) == 0, "%s", label);
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(c.m, c.x, &y));
        CHECKF(same_shape(y, cases[k].ny, cases[k].y), "%s", label);
        CHECK(memcmp(y->data, c.x->data, (size_t)c.x->size * sizeof(float)) == 0);
        CHECKF(gradcheck_model(c.m, c.x, &o, label) == 0, "%s", label);
        gc_free(&c);
    }
    /* opsets 1-4: the target shape is an attribute */
    gc_case c0 = gc_single_op("Reshape", 4, xs, 0, NULL, NULL, &r);
    gb_node_add_ints(c0.node, "shape", (int64_t[]){0, -1, 5}, 3);
    CHECK(gc_finalize(&c0) == 0);
    const gb_tensor *y0;
    CHECK_OK(gb_model_forward(c0.m, c0.x, &y0));
    CHECK(same_shape(y0, 3, (int64_t[]){2, 12, 5}));
    CHECK(gradcheck_model(c0.m, c0.x, &o, "Reshape attribute") == 0);
    gc_free(&c0);
    /* ...and without either there is nothing to reshape to */
    c0 = gc_single_op("Reshape", 4, xs, 0, NULL, NULL, &r);
    CHECK(gb_model_finalize(c0.m) == GB_ERR_FORMAT);
    gc_free(&c0);
    /* allowzero=1: a 0 is a real zero, so (2,3,4,5) cannot become (0, 120) */
    gc_case c = reshape_case(4, xs, 2, (int64_t[]){0, 120}, GB_VAL_CONST, 1, &r);
    gb_node_add_int(c.node, "allowzero", 1);
    CHECK(gb_model_finalize(c.m) == GB_ERR_SHAPE);
    gc_free(&c);
}

static void test_reshape_errors(void) {
    gb_rng r;
    gb_rng_seed(&r, 23, 1);
    int64_t xs[4] = {2, 3, 4, 5};
    struct {
        int nt;
        int64_t t[5];
        const char *msg;
    } bad[] = {
        {2, {7, 17}, "elements"},       /* wrong size */
        {2, {-1, 7}, "-1"},             /* -1 not divisible */
        {2, {-1, -1}, "more than one"}, /* two -1 */
        {3, {2, -3, 20}, "entry 1"},    /* negative */
        {5, {0, 0, 0, 5, 0}, "no dimension"},
    };
    for (int k = 0; k < (int)(sizeof bad / sizeof bad[0]); k++) {
        gc_case c = reshape_case(4, xs, bad[k].nt, bad[k].t, GB_VAL_CONST, 1, &r);
        gb_status s = gb_model_finalize(c.m);
        CHECKF(s == GB_ERR_SHAPE && strstr(gb_last_error(), bad[k].msg), "case %d: %s: %s", k,
               gb_status_name(s), gb_last_error());
        CHECK(gb_model_forward(c.m, c.x, NULL) == GB_ERR_SHAPE);
        gc_free(&c);
    }
    /* The shape must be a constant, not a trainable parameter. */
    gc_case c = reshape_case(4, xs, 2, (int64_t[]){0, -1}, GB_VAL_PARAM, 1, &r);
    gb_status s = gb_model_finalize(c.m);
    CHECKF(s == GB_ERR_UNSUPPORTED && strstr(gb_last_error(), "constant"), "%s", gb_last_error());
    gc_free(&c);
}

/* ---- Concat ---- */

static void test_concat(void) {
    gb_rng r;
    gb_rng_seed(&r, 24, 1);
    gc_opts o = gc_default_opts();
    const int64_t base[3] = {2, 3, 4};
    const int64_t axes[] = {0, 1, 2, -1, -3};
    const int64_t widths[3] = {1, 2, 3};
    for (int k = 0; k < (int)(sizeof axes / sizeof axes[0]); k++) {
        int ax = (int)(axes[k] < 0 ? axes[k] + 3 : axes[k]);
        int64_t s[3][GB_MAX_DIMS];
        for (int j = 0; j < 3; j++) {
            memcpy(s[j], base, sizeof base);
            s[j][ax] = widths[j];
        }
        int pnd[2] = {3, 3};
        gc_case c = gc_single_op("Concat", 3, s[0], 2, pnd, (const int64_t(*)[GB_MAX_DIMS])&s[1], &r);
        gb_node_add_int(c.node, "axis", axes[k]);
        char label[48];
        snprintf(label, sizeof label, "Concat axis %lld", (long long)axes[k]);
        CHECKF(gc_finalize(&c) == 0, "%s", label);
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(c.m, c.x, &y));
        int64_t want[3];
        memcpy(want, base, sizeof want);
        want[ax] = 6;
        CHECKF(same_shape(y, 3, want), "%s shape", label);
        /* Every output element comes from the input whose slice holds it. */
        const gb_tensor *src[3] = {c.x, &c.m->vals[gb_model_find_value(c.m, "p1")].t,
                                   &c.m->vals[gb_model_find_value(c.m, "p2")].t};
        int bad = 0;
        for (int64_t i = 0; i < y->size; i++) {
            int64_t idx[3] = {i / (want[1] * want[2]), i / want[2] % want[1], i % want[2]};
            int j = 0;
            while (idx[ax] >= widths[j]) idx[ax] -= widths[j++];
            const gb_tensor *t = src[j];
            float v = t->data[(idx[0] * t->shape[1] + idx[1]) * t->shape[2] + idx[2]];
            bad += y->data[i] != v;
        }
        CHECKF(bad == 0, "%s values", label);
        CHECKF(gradcheck_model(c.m, c.x, &o, label) == 0, "%s", label);
        gc_free(&c);
    }
    /* a single input is a copy */
    gc_case c = gc_single_op("Concat", 3, base, 0, NULL, NULL, &r);
    gb_node_add_int(c.node, "axis", 1);
    CHECK(gc_finalize(&c) == 0);
    CHECK(gradcheck_model(c.m, c.x, &o, "Concat one input") == 0);
    gc_free(&c);
}

static void test_concat_errors(void) {
    gb_rng r;
    gb_rng_seed(&r, 25, 1);
    int64_t xs[3] = {2, 3, 4};
    /* mismatch off the axis */
    int pnd[2] = {3, 3};
    int64_t ps[2][GB_MAX_DIMS] = {{2, 5, 4}, {2, 3, 5}};
    gc_case c = gc_single_op("Concat", 3, xs, 2, pnd, (const int64_t(*)[GB_MAX_DIMS])ps, &r);
    gb_node_add_int(c.node, "axis", 1);
    gb_status s = gb_model_finalize(c.m);
    CHECKF(s == GB_ERR_SHAPE && strstr(gb_last_error(), "input 2"), "%s", gb_last_error());
    gc_free(&c);
    /* rank mismatch */
    int pnd2[1] = {2};
    int64_t ps2[1][GB_MAX_DIMS] = {{2, 3}};
    c = gc_single_op("Concat", 3, xs, 1, pnd2, (const int64_t(*)[GB_MAX_DIMS])ps2, &r);
    gb_node_add_int(c.node, "axis", 0);
    CHECK(gb_model_finalize(c.m) == GB_ERR_SHAPE);
    gc_free(&c);
    /* axis out of range */
    c = gc_single_op("Concat", 3, xs, 0, NULL, NULL, &r);
    gb_node_add_int(c.node, "axis", 3);
    CHECK(gb_model_finalize(c.m) == GB_ERR_SHAPE);
    gc_free(&c);
}

/* Fan-out: y = Add(OP(x), x) and Concat(x, p1, x). Backward must add into
 * x's gradient, not overwrite what the other consumer put there. */
static void test_fanout_accumulates(void) {
    gc_opts o = gc_default_opts();
    gb_rng r;
    gb_rng_seed(&r, 26, 1);
    const char *ops[3] = {"Flatten", "Reshape", "Concat"};
    for (int k = 0; k < 3; k++) {
        gb_model *m = gb_model_alloc();
        int64_t xs[2] = {2, 3};
        m->in_ndim = 2;
        memcpy(m->in_shape, xs, sizeof xs);
        int x = gb_model_add_value(m, "x", GB_VAL_INPUT, NULL);
        int a = gb_model_add_value(m, "a", GB_VAL_ACT, NULL);
        int y = gb_model_add_value(m, "y", GB_VAL_ACT, NULL);
        if (k == 0) { /* (2,3) flattened at axis 1 keeps its shape */
            gb_model_add_node(m, "Flatten", "op", &x, 1, &a, 1);
        } else if (k == 1) {
            int64_t ts[1] = {2};
            gb_tensor *t = gb_tensor_new(1, ts);
            t->data[0] = 0, t->data[1] = -1;
            int sv = gb_model_add_value(m, "shape", GB_VAL_CONST, t);
            gb_tensor_free(t);
            gb_model_add_node(m, "Reshape", "op", (int[]){x, sv}, 2, &a, 1);
        } else {
            int64_t ps[2] = {2, 2};
            gb_tensor *p = gb_tensor_new(2, ps);
            gc_fill_uniform(p, &r, -1, 1);
            int pv = gb_model_add_value(m, "p1", GB_VAL_PARAM, p);
            gb_tensor_free(p);
            int ni = gb_model_add_node(m, "Concat", "op", (int[]){x, pv, x}, 3, &y, 1);
            gb_node_add_int(&m->nodes[ni], "axis", 1);
        }
        if (k < 2) gb_model_add_node(m, "Add", "add", (int[]){a, x}, 2, &y, 1);
        m->output = y;
        CHECK_OK(gb_model_finalize(m));
        gb_tensor *xt = gb_tensor_new(2, xs);
        gc_fill_uniform(xt, &r, -1, 1);
        CHECKF(gradcheck_model(m, xt, &o, ops[k]) == 0, "%s fan-out", ops[k]);
        gb_tensor_free(xt);
        gb_model_free(m);
    }
}

/* Empty tensors through Flatten and Concat. */
static void test_empty(void) {
    const int nd[3] = {3, 3, 3};
    const int64_t s[3][GB_MAX_DIMS] = {{0, 3, 4}, {0, 2, 4}, {0, 1, 4}};
    const int64_t s2[3][GB_MAX_DIMS] = {{2, 0, 4}, {2, 0, 4}, {2, 3, 4}};
    int64_t ys = -1;
    CHECK_OK(direct_op_run(GB_OP_CONCAT, 3, nd, s, 1, 1, &ys));
    CHECK(ys == 0);
    CHECK_OK(direct_op_run(GB_OP_CONCAT, 3, nd, s2, 1, 1, &ys));
    CHECK(ys == 24);
    CHECK_OK(direct_op_run(GB_OP_FLATTEN, 1, nd, s, 1, 2, &ys));
    CHECK(ys == 0);
}

int main(void) {
    RUN(test_flatten);
    RUN(test_reshape);
    RUN(test_reshape_errors);
    RUN(test_concat);
    RUN(test_concat_errors);
    RUN(test_fanout_accumulates);
    RUN(test_empty);
    CHECK_DONE();
}
