/* test_batchnorm.c — BatchNormalization: finite-difference gradient checks in
 * training mode (through the batch statistics) and inference mode (running
 * statistics as constants, and as trainable values), forward and
 * running-statistics update against a direct computation, extra outputs,
 * and bad models that must return errors. */
#include "check.h"
#include "gradcheck.h"

/* A one-node BatchNormalization model on input shape xs; the running
 * statistics are CONST values unless stats_kind says otherwise; var is made
 * positive. nout outputs (1..3). */
typedef struct bn_case {
    gb_model *m;
    gb_tensor *x;
    int mean, var; /* value indices of the running statistics */
    int out[3];
} bn_case;

static bn_case bn_build(int xnd, const int64_t *xs, gb_value_kind stats_kind, int nout,
                        float momentum, gb_rng *r) {
    bn_case b = {0};
    b.m = gb_model_alloc();
    b.m->in_ndim = xnd;
    memcpy(b.m->in_shape, xs, (size_t)xnd * sizeof *xs);
    b.x = gb_tensor_new(xnd, xs);
    gc_fill_uniform(b.x, r, -2, 2);
    int64_t C = xs[1];
    gb_tensor *t = gb_tensor_new(1, &C);
    int in[5];
    in[0] = gb_model_add_value(b.m, "x", GB_VAL_INPUT, NULL);
    gc_fill_uniform(t, r, 0.5f, 1.5f);
    in[1] = gb_model_add_value(b.m, "scale", GB_VAL_PARAM, t);
    gc_fill_uniform(t, r, -1, 1);
    in[2] = gb_model_add_value(b.m, "bias", GB_VAL_PARAM, t);
    gc_fill_uniform(t, r, -0.5f, 0.5f);
    in[3] = b.mean = gb_model_add_value(b.m, "running_mean", stats_kind, t);
    gc_fill_uniform(t, r, 0.5f, 2.0f);
    in[4] = b.var = gb_model_add_value(b.m, "running_var", stats_kind, t);
    gb_tensor_free(t);
    static const char *names[3] = {"y", "mean_out", "var_out"};
    for (int k = 0; k < nout; k++) b.out[k] = gb_model_add_value(b.m, names[k], GB_VAL_ACT, NULL);
    b.m->output = b.out[0];
    int ni = gb_model_add_node(b.m, "BatchNormalization", "bn", in, 5, b.out, nout);
    gb_node_add_float(&b.m->nodes[ni], "epsilon", 1e-3f);
    gb_node_add_float(&b.m->nodes[ni], "momentum", momentum);
    return b;
}

static void bn_free(bn_case *b) {
    gb_model_free(b->m);
    gb_tensor_free(b->x);
}

static void test_grad_training(void) {
    gb_rng r;
    gb_rng_seed(&r, 1, 1);
    int64_t shapes[3][4] = {{4, 3, 2, 3}, {6, 4}, {2, 2, 5}};
    int nd[3] = {4, 2, 3};
    for (int s = 0; s < 3; s++) {
        bn_case b = bn_build(nd[s], shapes[s], GB_VAL_CONST, 1, 0.9f, &r);
        CHECK_OK(gb_model_finalize(b.m));
        gc_opts o = gc_default_opts();
        o.training = 1;
        char label[32];
        snprintf(label, sizeof label, "bn train rank %d", nd[s]);
        CHECK(gradcheck_model(b.m, b.x, &o, label) == 0);
        bn_free(&b);
    }
    /* All inputs trainable (the running statistics then get zero gradients). */
    int64_t xs[4] = {3, 2, 3, 2};
    int pnd[4] = {1, 1, 1, 1};
    int64_t ps[4][GB_MAX_DIMS] = {{2}, {2}, {2}, {2}};
    gc_case c = gc_single_op("BatchNormalization", 4, xs, 4, pnd, ps, &r);
    CHECK(gc_finalize(&c) == 0);
    gc_opts o = gc_default_opts();
    o.training = 1;
    CHECK(gradcheck_model(c.m, c.x, &o, "bn train all params") == 0);
    gc_free(&c);
}

static void test_grad_inference(void) {
    gb_rng r;
    gb_rng_seed(&r, 2, 1);
    int64_t xs[4] = {3, 4, 2, 3};
    bn_case b = bn_build(4, xs, GB_VAL_CONST, 1, 0.9f, &r);
    CHECK_OK(gb_model_finalize(b.m));
    gc_opts o = gc_default_opts();
    CHECK(gradcheck_model(b.m, b.x, &o, "bn inference") == 0);
    bn_free(&b);
    /* Running statistics as trainable values: d/dmean and d/dvar too. */
    b = bn_build(4, xs, GB_VAL_PARAM, 1, 0.9f, &r);
    CHECK_OK(gb_model_finalize(b.m));
    CHECK(gradcheck_model(b.m, b.x, &o, "bn inference, trainable stats") == 0);
    bn_free(&b);
}

/* Forward in both modes and the running-statistics update, against sums
 * done here in double. */
static void test_forward_and_running_stats(void) {
    gb_rng r;
    gb_rng_seed(&r, 3, 1);
    int64_t xs[4] = {5, 3, 4, 3};
    const int64_t N = 5, C = 3, S = 12;
    const float mom = 0.8f, eps = 1e-3f;
    bn_case b = bn_build(4, xs, GB_VAL_CONST, 3, mom, &r);
    CHECK_OK(gb_model_finalize(b.m));
    const float *scale = b.m->vals[1].t.data, *bias = b.m->vals[2].t.data;
    float *rm = b.m->vals[b.mean].t.data, *rv = b.m->vals[b.var].t.data;
    float rm0[3], rv0[3];
    memcpy(rm0, rm, sizeof rm0);
    memcpy(rv0, rv, sizeof rv0);
    const gb_tensor *y;

    /* Inference: running statistics, unchanged by the pass. */
    CHECK_OK(gb_model_forward(b.m, b.x, &y));
    int bad = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (n * C + c) * S + s;
                double want = scale[c] * (b.x->data[i] - rm0[c]) / sqrt(rv0[c] + eps) + bias[c];
                bad += !(fabs(y->data[i] - want) <= 1e-5 * (1 + fabs(want)));
            }
    CHECKF(bad == 0, "inference: %d outputs wrong", bad);
    CHECK(memcmp(rm, rm0, sizeof rm0) == 0 && memcmp(rv, rv0, sizeof rv0) == 0);

    /* Training: batch statistics (biased variance) normalise; the running
     * ones move towards them with the unbiased variance. */
    gb_model_set_training(b.m, 1);
    CHECK_OK(gb_model_forward(b.m, b.x, &y));
    bad = 0;
    for (int64_t c = 0; c < C; c++) {
        double mu = 0, ss = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) mu += b.x->data[(n * C + c) * S + s];
        mu /= (double)(N * S);
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                double d = b.x->data[(n * C + c) * S + s] - mu;
                ss += d * d;
            }
        double var = ss / (double)(N * S), unbiased = ss / (double)(N * S - 1);
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (n * C + c) * S + s;
                double want = scale[c] * (b.x->data[i] - mu) / sqrt(var + eps) + bias[c];
                bad += !(fabs(y->data[i] - want) <= 1e-5 * (1 + fabs(want)));
            }
        double want_m = mom * rm0[c] + (1 - mom) * mu;
        double want_v = mom * rv0[c] + (1 - mom) * unbiased;
        CHECKF(fabs(rm[c] - want_m) <= 1e-6 && fabs(rv[c] - want_v) <= 1e-5,
               "channel %lld: running mean %g var %g, want %g %g", (long long)c, rm[c], rv[c],
               want_m, want_v);
        /* The optional outputs carry the updated running statistics. */
        CHECK(b.m->vals[b.out[1]].t.data[c] == rm[c] && b.m->vals[b.out[2]].t.data[c] == rv[c]);
    }
    CHECKF(bad == 0, "training: %d outputs wrong", bad);
    bn_free(&b);
}

/* Batch statistics must not cancel when the mean dwarfs the spread: each
 * output channel has mean B and standard deviation |scale| (biased). */
static void test_training_large_mean(void) {
    gb_rng r;
    gb_rng_seed(&r, 5, 1);
    int64_t xs[4] = {8, 2, 4, 4};
    bn_case b = bn_build(4, xs, GB_VAL_CONST, 1, 0.9f, &r);
    CHECK_OK(gb_model_finalize(b.m));
    for (int64_t i = 0; i < b.x->size; i++) b.x->data[i] += 1000.0f;
    gb_model_set_training(b.m, 1);
    const gb_tensor *y;
    CHECK_OK(gb_model_forward(b.m, b.x, &y));
    const float *scale = b.m->vals[1].t.data, *bias = b.m->vals[2].t.data;
    for (int64_t c = 0; c < 2; c++) {
        double s = 0, ss = 0;
        for (int64_t n = 0; n < 8; n++)
            for (int64_t k = 0; k < 16; k++) s += y->data[(n * 2 + c) * 16 + k];
        double mu = s / 128;
        for (int64_t n = 0; n < 8; n++)
            for (int64_t k = 0; k < 16; k++) {
                double d = y->data[(n * 2 + c) * 16 + k] - mu;
                ss += d * d;
            }
        double sd = sqrt(ss / 128);
        /* epsilon 1e-3 against a variance near 1.33 shrinks sd by ~0.04%. */
        CHECKF(fabs(mu - bias[c]) < 1e-3 && fabs(sd - fabs(scale[c])) < 2e-3 * fabs(scale[c]),
               "channel %lld: mean %g (want %g), sd %g (want %g)", (long long)c, mu, bias[c], sd,
               fabs(scale[c]));
    }
    bn_free(&b);
}

static void expect(gb_status got, gb_status want, const char *what, const char *needle) {
    CHECKF(got == want, "%s: got %s (%s), want %s", what, gb_status_name(got), gb_last_error(),
           gb_status_name(want));
    if (needle)
        CHECKF(strstr(gb_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
               gb_last_error(), needle);
}

static void test_bad_models(void) {
    gb_rng r;
    gb_rng_seed(&r, 4, 1);
    int64_t xs[4] = {2, 3, 4, 4};
    int pnd[4] = {1, 1, 1, 1};
    int64_t ps[4][GB_MAX_DIMS] = {{3}, {4}, {3}, {3}};
    gc_case c = gc_single_op("BatchNormalization", 4, xs, 4, pnd, ps, &r);
    expect(gb_model_finalize(c.m), GB_ERR_SHAPE, "bias of 4 channels for 3", "channel mismatch");
    gc_free(&c);

    int64_t x1[1] = {5};
    int64_t ps1[4][GB_MAX_DIMS] = {{5}, {5}, {5}, {5}};
    c = gc_single_op("BatchNormalization", 1, x1, 4, pnd, ps1, &r);
    expect(gb_model_finalize(c.m), GB_ERR_SHAPE, "rank-1 input", "channel");
    gc_free(&c);

    int64_t ps3[4][GB_MAX_DIMS] = {{3}, {3}, {3}, {3}};
    c = gc_single_op("BatchNormalization", 4, xs, 3, pnd, ps3, &r);
    expect(gb_model_finalize(c.m), GB_ERR_FORMAT, "4 inputs", NULL);
    gc_free(&c);

    c = gc_single_op("BatchNormalization", 4, xs, 4, pnd, ps3, &r);
    gb_node_add_float(c.node, "momentum", 1.5f);
    expect(gb_model_finalize(c.m), GB_ERR_FORMAT, "momentum 1.5", "momentum");
    gc_free(&c);
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_grad_training);
    RUN(test_grad_inference);
    RUN(test_forward_and_running_stats);
    RUN(test_training_large_mean);
    RUN(test_bad_models);
    CHECK_DONE();
}
