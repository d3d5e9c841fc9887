/* test_dropout.c — Dropout: gradient checks in training mode (the mask is
 * fixed by the seed), identity in inference, drop rate and scaling, the same
 * mask for the same seed whatever the thread count, the mask output, and bad
 * ratios that must return errors. */
#include "check.h"
#include "gradcheck.h"

/* One Dropout node on input shape xs. ratio < 0: no ratio input (the
 * attribute, if any, is added by the caller); otherwise a CONST scalar
 * input. nout 1 or 2 (the mask). */
typedef struct dcase {
    gb_model *m;
    gb_node *node;
    gb_tensor *x;
} dcase;

static dcase drop_build(int xnd, const int64_t *xs, float ratio, int64_t ratio_len, int nout,
                        gb_rng *r) {
    dcase d = {0};
    d.m = gb_model_alloc();
    d.m->in_ndim = xnd;
    memcpy(d.m->in_shape, xs, (size_t)xnd * sizeof *xs);
    d.x = gb_tensor_new(xnd, xs);
    gc_fill_uniform(d.x, r, -1, 1);
    int in[2], out[2], nin = 1;
    in[0] = gb_model_add_value(d.m, "x", GB_VAL_INPUT, NULL);
    if (ratio >= 0) {
        gb_tensor *t = gb_tensor_new(ratio_len ? 1 : 0, &ratio_len);
        for (int64_t i = 0; i < t->size; i++) t->data[i] = ratio;
        in[nin++] = gb_model_add_value(d.m, "ratio", GB_VAL_CONST, t);
        gb_tensor_free(t);
    }
    out[0] = gb_model_add_value(d.m, "y", GB_VAL_ACT, NULL);
    if (nout > 1) out[1] = gb_model_add_value(d.m, "mask", GB_VAL_ACT, NULL);
    d.m->output = out[0];
    int ni = gb_model_add_node(d.m, "Dropout", "drop", in, nin, out, nout);
    d.node = &d.m->nodes[ni]; /* after the call: it allocates m->nodes */
    return d;
}

static void drop_free(dcase *d) {
    gb_model_free(d->m);
    gb_tensor_free(d->x);
}

static void test_grad(void) {
    gb_rng r;
    gb_rng_seed(&r, 1, 1);
    int64_t xs[2] = {4, 30};
    dcase d = drop_build(2, xs, 0.3f, 0, 1, &r);
    CHECK_OK(gb_model_finalize(d.m));
    gc_opts o = gc_default_opts();
    o.training = 1;
    CHECK(gradcheck_model(d.m, d.x, &o, "dropout train, ratio input") == 0);
    o.training = 0;
    CHECK(gradcheck_model(d.m, d.x, &o, "dropout inference") == 0);
    drop_free(&d);
    /* Opset < 12: ratio as an attribute. */
    int64_t x4[4] = {2, 3, 4, 5};
    d = drop_build(4, x4, -1, 0, 1, &r);
    gb_node_add_float(d.node, "ratio", 0.6f);
    CHECK_OK(gb_model_finalize(d.m));
    o.training = 1;
    CHECK(gradcheck_model(d.m, d.x, &o, "dropout train, ratio attribute") == 0);
    drop_free(&d);
}

static void test_rate_scale_and_mask(void) {
    gb_rng r;
    gb_rng_seed(&r, 2, 1);
    int64_t xs[2] = {64, 4000};
    dcase d = drop_build(2, xs, 0.3f, 1, 2, &r);
    CHECK_OK(gb_model_finalize(d.m));
    const gb_tensor *y, *dx;
    const gb_tensor *mask = &d.m->vals[gb_model_find_value(d.m, "mask")].t;

    /* Inference: identity, mask all true, gradient passes through. */
    CHECK_OK(gb_model_forward(d.m, d.x, &y));
    CHECK(memcmp(y->data, d.x->data, (size_t)y->size * sizeof(float)) == 0);
    int ones = 1;
    for (int64_t i = 0; i < mask->size; i++) ones &= mask->data[i] == 1.0f;
    CHECK(ones);
    gb_tensor *dy = gb_tensor_new(2, xs);
    gc_fill_uniform(dy, &r, -1, 1);
    CHECK_OK(gb_model_backward(d.m, dy, GB_GRAD_INPUT, &dx));
    CHECK(memcmp(dx->data, dy->data, (size_t)dy->size * sizeof(float)) == 0);

    /* Training: about 30% dropped, the rest scaled by 1/0.7; the mask output
     * and the gradient agree with what was kept. */
    gb_model_set_training(d.m, 1);
    gb_model_set_seed(d.m, 5);
    CHECK_OK(gb_model_forward(d.m, d.x, &y));
    CHECK_OK(gb_model_backward(d.m, dy, GB_GRAD_INPUT, &dx));
    int64_t dropped = 0, bad = 0;
    for (int64_t i = 0; i < y->size; i++) {
        int kept = mask->data[i] == 1.0f;
        dropped += !kept;
        bad += kept ? !(fabsf(y->data[i] - d.x->data[i] / 0.7f) <= 1e-6f &&
                        fabsf(dx->data[i] - dy->data[i] / 0.7f) <= 1e-6f)
                    : !(y->data[i] == 0 && dx->data[i] == 0 && mask->data[i] == 0);
    }
    double rate = (double)dropped / (double)y->size;
    CHECKF(fabs(rate - 0.3) < 0.01, "drop rate %.4f", rate);
    CHECKF(bad == 0, "%lld values inconsistent with the mask", (long long)bad);

    /* The mask depends on the seed, not on the thread count. */
    gb_tensor *y2 = gb_tensor_clone(y);
    gb_set_num_threads(1);
    gb_model_set_seed(d.m, 5);
    CHECK_OK(gb_model_forward(d.m, d.x, &y));
    CHECK(memcmp(y->data, y2->data, (size_t)y->size * sizeof(float)) == 0);
    gb_set_num_threads(2);
    gb_model_set_seed(d.m, 6);
    CHECK_OK(gb_model_forward(d.m, d.x, &y));
    CHECK(memcmp(y->data, y2->data, (size_t)y->size * sizeof(float)) != 0);
    gb_tensor_free(y2);
    gb_tensor_free(dy);
    drop_free(&d);
}

static void expect(gb_status got, gb_status want, const char *what, const char *needle) {
    CHECKF(got == want, "%s: got %s (%s), want %s", what, gb_status_name(got), gb_last_error(),
           gb_status_name(want));
    if (needle)
        CHECKF(strstr(gb_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
               gb_last_error(), needle);
}

static void test_bad_ratio(void) {
    gb_rng r;
    gb_rng_seed(&r, 3, 1);
    int64_t xs[2] = {2, 3};
    dcase d = drop_build(2, xs, 1.0f, 0, 1, &r);
    expect(gb_model_finalize(d.m), GB_ERR_FORMAT, "ratio input 1", "ratio");
    drop_free(&d);
    d = drop_build(2, xs, 0.5f, 3, 1, &r);
    expect(gb_model_finalize(d.m), GB_ERR_SHAPE, "ratio of 3 values", "scalar");
    drop_free(&d);
    d = drop_build(2, xs, -1, 0, 1, &r);
    gb_node_add_float(d.node, "ratio", -0.1f);
    expect(gb_model_finalize(d.m), GB_ERR_FORMAT, "ratio attribute -0.1", "ratio");
    drop_free(&d);
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_grad);
    RUN(test_rate_scale_and_mask);
    RUN(test_bad_ratio);
    CHECK_DONE();
}
