/* test_conv.c — Conv: finite-difference gradient checks (strided, padded,
 * dilated, grouped, depthwise, 1x1, auto_pad), forward against a direct
 * 7-loop convolution on random shapes, determinism, and bad models that must
 * return errors. */
#include "check.h"
#include "gradcheck.h"

typedef struct conv_cfg {
    int64_t n, c, h, w, m, kh, kw;
    int64_t group, sh, sw, dh, dw;
    int64_t pads[4];
    const char *auto_pad; /* NULL: attribute absent */
    int bias;
} conv_cfg;

static gc_case conv_case(const conv_cfg *f, gb_rng *r) {
    int64_t xs[4] = {f->n, f->c, f->h, f->w};
    int pnd[2] = {4, f->bias ? 1 : 0};
    int64_t ps[2][GB_MAX_DIMS] = {{f->m, f->c / f->group, f->kh, f->kw}, {f->m}};
    gc_case c = gc_single_op("Conv", 4, xs, f->bias ? 2 : 1, pnd, ps, r);
    int64_t st[2] = {f->sh, f->sw}, dl[2] = {f->dh, f->dw};
    gb_node_add_ints(c.node, "strides", st, 2);
    gb_node_add_ints(c.node, "dilations", dl, 2);
    gb_node_add_int(c.node, "group", f->group);
    if (f->auto_pad) gb_node_add_string(c.node, "auto_pad", f->auto_pad);
    if (!f->auto_pad || strcmp(f->auto_pad, "NOTSET") == 0)
        gb_node_add_ints(c.node, "pads", f->pads, 4);
    return c;
}

/* Resolves the pads the way the ONNX spec words it, independently of
 * src/ops/window.h; returns the output size or <= 0 if nothing fits. */
static int64_t ref_out(const char *ap, int64_t in, int64_t k, int64_t s, int64_t d, int64_t *pb,
                       int64_t *pe) {
    int64_t ek = (k - 1) * d + 1;
    if (ap && strcmp(ap, "VALID") == 0) {
        *pb = *pe = 0;
        return (int64_t)ceil((double)(in - ek + 1) / (double)s);
    }
    if (ap && strncmp(ap, "SAME", 4) == 0) {
        int64_t out = (int64_t)ceil((double)in / (double)s);
        int64_t total = (out - 1) * s + ek - in;
        if (total < 0) total = 0;
        if (strcmp(ap, "SAME_UPPER") == 0) {
            *pb = total / 2;
            *pe = total - *pb;
        } else {
            *pe = total / 2;
            *pb = total - *pe;
        }
        return out;
    }
    return (int64_t)floor((double)(in + *pb + *pe - ek) / (double)s) + 1;
}

/* Direct convolution: y[n][m][oh][ow] = b[m] + sum over the group's input
 * channels and kernel taps, taps outside the input contributing 0. */
static void ref_conv(float *y, const float *x, const float *w, const float *b, const conv_cfg *f,
                     int64_t oh_n, int64_t ow_n, int64_t pt, int64_t pl) {
    int64_t cg = f->c / f->group, mg = f->m / f->group;
    for (int64_t n = 0; n < f->n; n++)
        for (int64_t m = 0; m < f->m; m++)
            for (int64_t oh = 0; oh < oh_n; oh++)
                for (int64_t ow = 0; ow < ow_n; ow++) {
                    double s = b ? b[m] : 0;
                    int64_t g = m / mg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t i = 0; i < f->kh; i++)
                            for (int64_t j = 0; j < f->kw; j++) {
                                int64_t ih = oh * f->sh - pt + i * f->dh;
                                int64_t iw = ow * f->sw - pl + j * f->dw;
                                if (ih < 0 || ih >= f->h || iw < 0 || iw >= f->w) continue;
                                int64_t c = g * cg + ci;
                                s += (double)x[((n * f->c + c) * f->h + ih) * f->w + iw] *
                                     w[((m * cg + ci) * f->kh + i) * f->kw + j];
                            }
                    y[((n * f->m + m) * oh_n + oh) * ow_n + ow] = (float)s;
                }
}

static int gradcheck_conv(const char *label, conv_cfg f, int seed) {
    gb_rng r;
    gb_rng_seed(&r, (uint64_t)seed, 3);
    gc_case c = conv_case(&f, &r);
    int bad = gc_finalize(&c);
    if (!bad) {
        gc_opts o = gc_default_opts();
        bad = gradcheck_model(c.m, c.x, &o, label);
    }
    gc_free(&c);
    return bad;
}

static void test_grad_basic(void) {
    conv_cfg f = {2, 3, 6, 5, 4, 3, 3, 1, 1, 1, 1, 1, {1, 1, 1, 1}, NULL, 1};
    CHECK(gradcheck_conv("basic", f, 1) == 0);
}

static void test_grad_strided_asym_pads(void) {
    conv_cfg f = {1, 2, 7, 6, 3, 3, 2, 1, 2, 3, 1, 1, {0, 1, 2, 0}, NULL, 0};
    CHECK(gradcheck_conv("strided", f, 2) == 0);
}

static void test_grad_dilated(void) {
    conv_cfg f = {2, 2, 7, 7, 2, 3, 3, 1, 1, 2, 2, 1, {2, 1, 2, 1}, NULL, 1};
    CHECK(gradcheck_conv("dilated", f, 3) == 0);
}

static void test_grad_grouped(void) {
    conv_cfg f = {3, 4, 5, 5, 6, 3, 3, 2, 1, 1, 1, 1, {1, 1, 1, 1}, NULL, 1};
    CHECK(gradcheck_conv("group2", f, 4) == 0);
}

static void test_grad_depthwise(void) {
    conv_cfg f = {2, 3, 6, 6, 6, 3, 3, 3, 2, 2, 1, 1, {1, 1, 1, 1}, NULL, 0};
    CHECK(gradcheck_conv("depthwise", f, 5) == 0);
}

static void test_grad_same_upper(void) {
    conv_cfg f = {1, 2, 5, 6, 2, 4, 3, 1, 2, 2, 1, 1, {0}, "SAME_UPPER", 1};
    CHECK(gradcheck_conv("same_upper", f, 6) == 0);
    conv_cfg g = {1, 2, 5, 6, 2, 4, 3, 1, 1, 1, 1, 1, {0}, "SAME_LOWER", 0};
    CHECK(gradcheck_conv("same_lower", g, 7) == 0);
}

static void test_grad_1x1(void) {
    conv_cfg f = {3, 4, 3, 3, 5, 1, 1, 1, 1, 1, 1, 1, {0}, NULL, 1};
    CHECK(gradcheck_conv("1x1", f, 8) == 0);
    conv_cfg g = {2, 4, 3, 2, 6, 1, 1, 2, 1, 1, 1, 1, {0}, NULL, 0};
    CHECK(gradcheck_conv("1x1_group2", g, 9) == 0);
}

/* One input channel (im2col's K is just the taps): plain, and strided,
 * dilated, asymmetrically padded. */
static void test_grad_one_channel(void) {
    conv_cfg f = {2, 1, 6, 5, 4, 3, 3, 1, 1, 1, 1, 1, {1, 1, 1, 1}, NULL, 1};
    CHECK(gradcheck_conv("1ch", f, 10) == 0);
    conv_cfg g = {2, 1, 7, 8, 3, 3, 2, 1, 2, 3, 2, 1, {2, 0, 1, 2}, NULL, 0};
    CHECK(gradcheck_conv("1ch_strided", g, 11) == 0);
}

/* Random configurations (including all auto_pad modes) against ref_conv. */
static void test_forward_reference(void) {
    gb_rng r;
    gb_rng_seed(&r, 42, 1);
    static const char *modes[5] = {NULL, "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"};
    int tested = 0;
    for (int iter = 0; iter < 60; iter++) {
        conv_cfg f;
        f.group = 1 + gb_rng_below(&r, 3);
        f.c = f.group * (1 + gb_rng_below(&r, 3));
        f.m = f.group * (1 + gb_rng_below(&r, 3));
        f.n = 1 + gb_rng_below(&r, 4);
        f.h = 1 + gb_rng_below(&r, 10);
        f.w = 1 + gb_rng_below(&r, 10);
        f.kh = 1 + gb_rng_below(&r, 4);
        f.kw = 1 + gb_rng_below(&r, 4);
        f.sh = 1 + gb_rng_below(&r, 3);
        f.sw = 1 + gb_rng_below(&r, 3);
        f.dh = 1 + gb_rng_below(&r, 2);
        f.dw = 1 + gb_rng_below(&r, 2);
        for (int i = 0; i < 4; i++) f.pads[i] = gb_rng_below(&r, 3);
        f.auto_pad = modes[gb_rng_below(&r, 5)];
        f.bias = gb_rng_below(&r, 2);
        int64_t pads[4];
        memcpy(pads, f.pads, sizeof pads);
        if (f.auto_pad && strcmp(f.auto_pad, "NOTSET") != 0) memset(pads, 0, sizeof pads);
        int64_t oh = ref_out(f.auto_pad, f.h, f.kh, f.sh, f.dh, &pads[0], &pads[2]);
        int64_t ow = ref_out(f.auto_pad, f.w, f.kw, f.sw, f.dw, &pads[1], &pads[3]);
        gc_case c = conv_case(&f, &r);
        gb_status s = gb_model_finalize(c.m);
        if (oh < 1 || ow < 1) {
            CHECKF(s == GB_ERR_SHAPE, "iter %d: expected a shape error, got %s", iter,
                   gb_status_name(s));
            gc_free(&c);
            continue;
        }
        CHECKF(s == GB_OK, "iter %d: %s", iter, gb_last_error());
        if (s != GB_OK) {
            gc_free(&c);
            continue;
        }
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(c.m, c.x, &y));
        CHECK(y->shape[0] == f.n && y->shape[1] == f.m && y->shape[2] == oh && y->shape[3] == ow);
        if (y->size == f.n * f.m * oh * ow) {
            float *ref = malloc((size_t)y->size * sizeof *ref);
            const float *w = c.m->vals[gb_model_find_value(c.m, "p1")].t.data;
            const float *b = f.bias ? c.m->vals[gb_model_find_value(c.m, "p2")].t.data : NULL;
            ref_conv(ref, c.x->data, w, b, &f, oh, ow, pads[0], pads[1]);
            int bad = 0;
            for (int64_t i = 0; i < y->size; i++)
                bad += !(fabsf(y->data[i] - ref[i]) <= 1e-4f * (1 + fabsf(ref[i])));
            CHECKF(bad == 0, "iter %d: %d of %lld outputs differ from the direct convolution", iter,
                   bad, (long long)y->size);
            free(ref);
            tested++;
        }
        gc_free(&c);
    }
    CHECK(tested > 30);
}

/* Batch large enough to split across threads: the parallel path must give
 * the same output and input gradient as running image by image, the same
 * bits when repeated, and the same dx whether or not dW is computed. */
static void test_batch_parallel_deterministic(void) {
    gb_rng r;
    gb_rng_seed(&r, 7, 1);
    conv_cfg f = {9, 6, 10, 9, 8, 3, 3, 2, 1, 2, 1, 1, {1, 1, 1, 1}, NULL, 1};
    gc_case c = conv_case(&f, &r);
    CHECK(gc_finalize(&c) == 0);
    const gb_tensor *y, *dx;
    CHECK_OK(gb_model_forward(c.m, c.x, &y));
    gb_tensor *y1 = gb_tensor_clone(y);
    gb_tensor *dy = gb_tensor_new(y->ndim, y->shape);
    gc_fill_uniform(dy, &r, -1, 1);
    gb_model_zero_grad(c.m);
    CHECK_OK(gb_model_backward(c.m, dy, GB_GRAD_ALL, &dx));
    gb_tensor *dx1 = gb_tensor_clone(dx);
    gb_param pw = gb_model_param(c.m, 0);
    float *dw1 = malloc((size_t)pw.size * sizeof *dw1);
    memcpy(dw1, pw.grad, (size_t)pw.size * sizeof *dw1);

    /* Again: same bits. Input gradient only: same dx, weight grads untouched. */
    CHECK_OK(gb_model_forward(c.m, c.x, &y));
    CHECK(memcmp(y->data, y1->data, (size_t)y->size * sizeof(float)) == 0);
    gb_model_zero_grad(c.m);
    CHECK_OK(gb_model_backward(c.m, dy, GB_GRAD_ALL, &dx));
    CHECK(memcmp(dx->data, dx1->data, (size_t)dx->size * sizeof(float)) == 0);
    CHECK(memcmp(pw.grad, dw1, (size_t)pw.size * sizeof(float)) == 0);
    gb_model_zero_grad(c.m);
    CHECK_OK(gb_model_backward(c.m, dy, GB_GRAD_INPUT, &dx));
    CHECK(memcmp(dx->data, dx1->data, (size_t)dx->size * sizeof(float)) == 0);
    int zero = 1;
    for (int64_t i = 0; i < pw.size; i++) zero &= pw.grad[i] == 0;
    CHECK(zero);

    /* One image at a time (serial path) agrees with the batch. */
    int64_t per_x = c.x->size / f.n, per_y = y1->size / f.n;
    int64_t s1[4] = {1, f.c, f.h, f.w};
    gb_tensor *xi = gb_tensor_new(4, s1);
    int64_t ys1[4] = {1, y1->shape[1], y1->shape[2], y1->shape[3]};
    gb_tensor *dyi = gb_tensor_new(4, ys1);
    int bad = 0;
    for (int64_t i = 0; i < f.n; i++) {
        memcpy(xi->data, c.x->data + i * per_x, (size_t)per_x * sizeof(float));
        memcpy(dyi->data, dy->data + i * per_y, (size_t)per_y * sizeof(float));
        CHECK_OK(gb_model_forward(c.m, xi, &y));
        for (int64_t k = 0; k < per_y; k++)
            bad += !(fabsf(y->data[k] - y1->data[i * per_y + k]) <= 1e-5f);
        CHECK_OK(gb_model_backward(c.m, dyi, GB_GRAD_INPUT, &dx));
        for (int64_t k = 0; k < per_x; k++)
            bad += !(fabsf(dx->data[k] - dx1->data[i * per_x + k]) <= 1e-5f);
    }
    CHECKF(bad == 0, "%d values differ between batch and single-image runs", bad);
    gb_tensor_free(xi);
    gb_tensor_free(dyi);
    gb_tensor_free(y1);
    gb_tensor_free(dy);
    gb_tensor_free(dx1);
    free(dw1);
    gc_free(&c);
}

/* Builds a one-Conv model on x shape xs with weight shape ws (no bias) and
 * returns the status of finalizing it; `attrs` adds attributes. */
static gb_status try_conv(int xnd, const int64_t *xs, int wnd, const int64_t *ws,
                          void (*attrs)(gb_node *)) {
    gb_rng r;
    gb_rng_seed(&r, 1, 1);
    int pnd[1] = {wnd};
    int64_t ps[1][GB_MAX_DIMS] = {{0}};
    memcpy(ps[0], ws, (size_t)wnd * sizeof *ws);
    gc_case c = gc_single_op("Conv", xnd, xs, 1, pnd, ps, &r);
    if (attrs) attrs(c.node);
    gb_status s = gb_model_finalize(c.m);
    gc_free(&c);
    return s;
}

static void attr_group2(gb_node *n) { gb_node_add_int(n, "group", 2); }
static void attr_group0(gb_node *n) { gb_node_add_int(n, "group", 0); }
static void attr_bad_autopad(gb_node *n) { gb_node_add_string(n, "auto_pad", "SAME_MIDDLE"); }
static void attr_neg_pads(gb_node *n) {
    int64_t p[4] = {0, -1, 0, 0};
    gb_node_add_ints(n, "pads", p, 4);
}
static void attr_huge_pads(gb_node *n) {
    int64_t p[4] = {1 << 24, 1 << 24, 1 << 24, 1 << 24};
    gb_node_add_ints(n, "pads", p, 4);
}
static void attr_zero_stride(gb_node *n) {
    int64_t s[2] = {1, 0};
    gb_node_add_ints(n, "strides", s, 2);
}
static void attr_kernel3d(gb_node *n) {
    int64_t k[3] = {3, 3, 3};
    gb_node_add_ints(n, "kernel_shape", k, 3);
}
static void attr_kernel_mismatch(gb_node *n) {
    int64_t k[2] = {3, 2};
    gb_node_add_ints(n, "kernel_shape", k, 2);
}

static void expect(gb_status got, gb_status want, const char *what, const char *needle) {
    CHECKF(got == want, "%s: got %s (%s), want %s", what, gb_status_name(got), gb_last_error(),
           gb_status_name(want));
    if (needle)
        CHECKF(strstr(gb_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
               gb_last_error(), needle);
}

static void test_bad_models(void) {
    int64_t x4[4] = {1, 3, 8, 8}, x3[3] = {1, 3, 8}, x5[5] = {1, 3, 4, 4, 4};
    int64_t w_ok[4] = {4, 3, 3, 3}, w_c2[4] = {4, 2, 3, 3}, w3[3] = {4, 3, 3};
    int64_t w5[5] = {4, 3, 3, 3, 3}, w_big[4] = {4, 3, 9, 3}, w_m3[4] = {3, 1, 3, 3};
    expect(try_conv(4, x4, 4, w_ok, NULL), GB_OK, "valid conv", NULL);
    expect(try_conv(4, x4, 4, w_c2, NULL), GB_ERR_SHAPE, "channel mismatch", "channel");
    expect(try_conv(4, x4, 4, w_ok, attr_group2), GB_ERR_SHAPE, "group not dividing C", "group");
    int64_t x4c4[4] = {1, 4, 8, 8};
    expect(try_conv(4, x4c4, 4, w_m3, attr_group2), GB_ERR_SHAPE, "group not dividing M", "group");
    expect(try_conv(4, x4, 4, w_big, NULL), GB_ERR_SHAPE, "kernel larger than input", "larger");
    expect(try_conv(3, x3, 3, w3, NULL), GB_ERR_UNSUPPORTED, "1-D conv", "2-D");
    expect(try_conv(5, x5, 5, w5, NULL), GB_ERR_UNSUPPORTED, "3-D conv", "2-D");
    expect(try_conv(4, x4, 4, w_ok, attr_kernel3d), GB_ERR_UNSUPPORTED, "3-D kernel_shape", "2-D");
    expect(try_conv(4, x4, 4, w_ok, attr_kernel_mismatch), GB_ERR_SHAPE, "kernel_shape vs W",
           "kernel_shape");
    expect(try_conv(4, x4, 4, w_ok, attr_group0), GB_ERR_FORMAT, "group 0", "group");
    expect(try_conv(4, x4, 4, w_ok, attr_bad_autopad), GB_ERR_UNSUPPORTED, "auto_pad", "auto_pad");
    expect(try_conv(4, x4, 4, w_ok, attr_neg_pads), GB_ERR_FORMAT, "negative pads", "pads");
    expect(try_conv(4, x4, 4, w_ok, attr_zero_stride), GB_ERR_FORMAT, "zero stride", "strides");
    expect(try_conv(4, x4, 4, w_ok, attr_huge_pads), GB_ERR_NOMEM, "absurd output", "absurd");

    /* Bias of the wrong length. */
    gb_rng r;
    gb_rng_seed(&r, 1, 1);
    int pnd[2] = {4, 1};
    int64_t ps[2][GB_MAX_DIMS] = {{4, 3, 3, 3}, {5}};
    gc_case c = gc_single_op("Conv", 4, x4, 2, pnd, ps, &r);
    expect(gb_model_finalize(c.m), GB_ERR_SHAPE, "bias length", "bias");
    gc_free(&c);

    /* A model without a declared input shape finalizes, but a too-small
     * image at forward time is an error, not a crash. */
    int pnd1[1] = {4};
    int64_t ps1[1][GB_MAX_DIMS] = {{4, 3, 3, 3}};
    c = gc_single_op("Conv", 4, x4, 1, pnd1, ps1, &r);
    c.m->in_ndim = 0;
    CHECK_OK(gb_model_finalize(c.m));
    int64_t small[4] = {1, 3, 2, 8};
    gb_tensor *xs = gb_tensor_new(4, small);
    const gb_tensor *y;
    expect(gb_model_forward(c.m, xs, &y), GB_ERR_SHAPE, "image smaller than kernel", "larger");
    gb_tensor_free(xs);
    gc_free(&c);
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_grad_basic);
    RUN(test_grad_strided_asym_pads);
    RUN(test_grad_dilated);
    RUN(test_grad_grouped);
    RUN(test_grad_depthwise);
    RUN(test_grad_same_upper);
    RUN(test_grad_1x1);
    RUN(test_grad_one_channel);
    RUN(test_forward_reference);
    RUN(test_batch_parallel_deterministic);
    RUN(test_bad_models);
    CHECK_DONE();
}
