/* test_fuse.c — the plan-time fusion of Conv -> Relu [-> 2x2 MaxPool]
 * (graph/fuse.c, conv.c): it happens where it should and nowhere else, and
 * a fused model gives the logits and every gradient the unfused one does
 * (and, independently, those central differences give). */
#include "check.h"
#include "gradcheck.h"

#include <math.h>

static int add_param(gb_model *m, const char *name, int ndim, const int64_t *shape, gb_rng *r,
                     float scale) {
    gb_tensor *t = gb_tensor_new(ndim, shape);
    gc_fill_uniform(t, r, -scale, scale);
    int v = gb_model_add_value(m, name, GB_VAL_PARAM, t);
    gb_tensor_free(t);
    return v;
}

/* x (N, 3, 9, 9) -> Conv 3->8 3x3 stride 2 pad 1 (im2col, strided) -> Relu
 * -> Conv 8->6 1x1 (the image is its own columns) -> Relu -> MaxPool 2x2
 * on 5x5 (odd: the last row and column are dropped) -> Flatten -> Gemm 4.
 * The first Relu is followed by a Conv, so only the second pool fuses. */
static gb_model *two_conv_model(gb_rng *r) {
    gb_model *m = gb_model_alloc();
    int64_t in[4] = {-1, 3, 9, 9};
    m->in_ndim = 4;
    memcpy(m->in_shape, in, sizeof in);
    int x = gb_model_add_value(m, "x", GB_VAL_INPUT, NULL);
    int64_t w1s[4] = {8, 3, 3, 3}, b1s[1] = {8}, w2s[4] = {6, 8, 1, 1}, b2s[1] = {6};
    int64_t w3s[2] = {4, 24}, b3s[1] = {4};
    int w1 = add_param(m, "w1", 4, w1s, r, 0.5f), b1 = add_param(m, "b1", 1, b1s, r, 0.3f);
    int w2 = add_param(m, "w2", 4, w2s, r, 0.5f), b2 = add_param(m, "b2", 1, b2s, r, 0.3f);
    int w3 = add_param(m, "w3", 2, w3s, r, 0.5f), b3 = add_param(m, "b3", 1, b3s, r, 0.3f);
    const char *names[] = {"c1", "r1", "c2", "r2", "p2", "f", "z"};
    int v[7];
    for (int i = 0; i < 7; i++) v[i] = gb_model_add_value(m, names[i], GB_VAL_ACT, NULL);
    m->output = v[6];
    int i1[3] = {x, w1, b1}, i2[3] = {v[1], w2, b2}, i3[3] = {v[5], w3, b3};
    int c1 = gb_model_add_node(m, "Conv", "conv1", i1, 3, &v[0], 1);
    int64_t two[2] = {2, 2}, pads[4] = {1, 1, 1, 1};
    gb_node_add_ints(&m->nodes[c1], "strides", two, 2);
    gb_node_add_ints(&m->nodes[c1], "pads", pads, 4);
    gb_model_add_node(m, "Relu", "relu1", &v[0], 1, &v[1], 1);
    gb_model_add_node(m, "Conv", "conv2", i2, 3, &v[2], 1);
    gb_model_add_node(m, "Relu", "relu2", &v[2], 1, &v[3], 1);
    int p = gb_model_add_node(m, "MaxPool", "pool2", &v[3], 1, &v[4], 1);
    gb_node_add_ints(&m->nodes[p], "kernel_shape", two, 2);
    gb_node_add_ints(&m->nodes[p], "strides", two, 2);
    gb_model_add_node(m, "Flatten", "flatten", &v[4], 1, &v[5], 1);
    int g = gb_model_add_node(m, "Gemm", "gemm", i3, 3, &v[6], 1);
    gb_node_add_int(&m->nodes[g], "transB", 1);
    if (gb_model_finalize(m) != GB_OK) {
        fprintf(stderr, "two_conv_model: %s\n", gb_last_error());
        gb_model_free(m);
        return NULL;
    }
    return m;
}

static int count_absorbed(const gb_model *m) {
    int k = 0;
    for (int i = 0; i < m->nnodes; i++) k += m->nodes[i].absorbed != 0;
    return k;
}

/* Logits, input gradient and all parameter gradients, concatenated. */
static gb_tensor *everything(gb_model *m, const gb_tensor *x, const gb_tensor *R) {
    const gb_tensor *y, *dx;
    if (gb_model_forward(m, x, &y) != GB_OK) return NULL;
    gb_model_zero_grad(m);
    if (gb_model_backward(m, R, GB_GRAD_ALL, &dx) != GB_OK) return NULL;
    int64_t n = y->size + dx->size;
    for (int p = 0; p < gb_model_num_params(m); p++) n += gb_model_param(m, p).size;
    int64_t shape[1] = {n};
    gb_tensor *all = gb_tensor_new(1, shape);
    float *o = all->data;
    memcpy(o, y->data, (size_t)y->size * sizeof *o);
    o += y->size;
    memcpy(o, dx->data, (size_t)dx->size * sizeof *o);
    o += dx->size;
    for (int p = 0; p < gb_model_num_params(m); p++) {
        gb_param prm = gb_model_param(m, p);
        memcpy(o, prm.grad, (size_t)prm.size * sizeof *o);
        o += prm.size;
    }
    return all;
}

/* Fused and unfused runs of m on x agree to float rounding (the bias
 * gradient's sums run in another order). */
static void check_same(gb_model *m, const gb_tensor *x, int want_absorbed, const char *label) {
    const gb_tensor *y;
    CHECK_OK(gb_model_forward(m, x, &y));
    CHECKF(count_absorbed(m) == want_absorbed, "%s: %d nodes absorbed, want %d", label,
           count_absorbed(m), want_absorbed);
    gb_tensor *R = gb_tensor_new(y->ndim, y->shape);
    gb_rng r;
    gb_rng_seed(&r, 11, 0);
    gc_fill_uniform(R, &r, -1, 1);
    gb_tensor *fused = everything(m, x, R);
    m->no_fuse = 1;
    m->planned_ndim = -1;
    gb_tensor *plain = everything(m, x, R);
    CHECKF(count_absorbed(m) == 0, "%s: no_fuse still fused", label);
    m->no_fuse = 0;
    m->planned_ndim = -1;
    CHECK(fused && plain && fused->size == plain->size);
    if (fused && plain) {
        double worst = 0, scale = 0;
        for (int64_t i = 0; i < plain->size; i++) {
            worst = fmax(worst, fabs((double)fused->data[i] - plain->data[i]));
            scale = fmax(scale, fabs((double)plain->data[i]));
        }
        CHECKF(scale > 0 && worst <= 1e-6 * scale, "%s: fused differs by %g (scale %g)", label,
               worst, scale);
    }
    gb_tensor_free(fused);
    gb_tensor_free(plain);
    gb_tensor_free(R);
}

static gb_tensor *random_input(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
    int64_t s[4] = {n, c, h, w};
    gb_tensor *x = gb_tensor_new(4, s);
    gb_rng r;
    gb_rng_seed(&r, seed, 0);
    gc_fill_uniform(x, &r, 0, 1);
    return x;
}

/* The zoo cnn: both conv-relu-pool blocks fuse (4 nodes absorbed); with one
 * and two threads, as each thread has its own image buffer. */
static void test_zoo_cnn(void) {
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("conv8-conv16-fc32", 1, 28, 28, 10, 3, &m));
    if (!m) return;
    gb_tensor *x = random_input(5, 1, 28, 28, 4);
    int threads = gb_get_num_threads();
    for (int t = 1; t <= 2; t++) {
        gb_set_num_threads(t);
        m->planned_ndim = -1;
        check_same(m, x, 4, t == 1 ? "zoo cnn, 1 thread" : "zoo cnn, 2 threads");
    }
    gb_set_num_threads(threads);
    gb_tensor_free(x);
    gb_model_free(m);
}

static void test_strided_direct_odd(void) {
    gb_rng r;
    gb_rng_seed(&r, 5, 0);
    gb_model *m = two_conv_model(&r);
    CHECK(m != NULL);
    if (!m) return;
    gb_tensor *x = random_input(3, 3, 9, 9, 6);
    /* relu1 (followed by a Conv), relu2 and pool2. */
    check_same(m, x, 3, "strided + 1x1 + odd pool");
    /* And against central differences, with the fusion on. */
    gc_opts o = gc_default_opts();
    o.h = 2e-3;
    o.kink_aware = 1;
    CHECK(gradcheck_model(m, x, &o, "fused two-conv model") == 0);
    CHECK(count_absorbed(m) == 3);
    gb_tensor_free(x);
    gb_model_free(m);
}

/* A Relu whose input is also read elsewhere (here: the model output is the
 * conv itself) must not be absorbed. */
static void test_not_fused_when_observable(void) {
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("conv8-fc16", 1, 12, 12, 4, 2, &m));
    if (!m) return;
    gb_tensor *x = random_input(2, 1, 12, 12, 9);
    const gb_tensor *y;
    CHECK_OK(gb_model_forward(m, x, &y));
    CHECK(count_absorbed(m) == 2);
    /* Make the conv's output the model output: nothing may fuse now. */
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].op == GB_OP_CONV) m->output = m->nodes[i].out[0];
    m->planned_ndim = -1;
    CHECK_OK(gb_model_forward(m, x, &y));
    CHECK(count_absorbed(m) == 0);
    CHECK(y->ndim == 4 && y->shape[1] == 8);
    gb_tensor_free(x);
    gb_model_free(m);
}

int main(void) {
    RUN(test_zoo_cnn);
    RUN(test_strided_direct_odd);
    RUN(test_not_fused_when_observable);
    CHECK_DONE();
}
