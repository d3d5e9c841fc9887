/* test_pool.c — MaxPool, AveragePool, GlobalAveragePool: finite-difference
 * gradient checks (stride != kernel, padding, ceil_mode, dilation,
 * count_include_pad), forward against direct pooling on random shapes, the
 * 2x2 stride-2 plane kernel (vectorized) against a scalar loop bit for bit
 * on tie-heavy data, and bad models that must return errors. */
#include "check.h"
#include "gradcheck.h"
#include "internal.h" /* gb_maxpool2x2_plane */

typedef struct pool_cfg {
    int64_t n, c, h, w, kh, kw, sh, sw, dh, dw;
    int64_t pads[4];
    int ceil_mode, count_include_pad;
    const char *auto_pad; /* NULL: absent */
} pool_cfg;

static gc_case pool_case(const char *op, const pool_cfg *f, gb_rng *r) {
    int64_t xs[4] = {f->n, f->c, f->h, f->w};
    gc_case c = gc_single_op(op, 4, xs, 0, NULL, NULL, r);
    int64_t k[2] = {f->kh, f->kw}, st[2] = {f->sh, f->sw}, dl[2] = {f->dh, f->dw};
    gb_node_add_ints(c.node, "kernel_shape", k, 2);
    gb_node_add_ints(c.node, "strides", st, 2);
    if (f->dh != 1 || f->dw != 1) gb_node_add_ints(c.node, "dilations", dl, 2);
    if (f->auto_pad) gb_node_add_string(c.node, "auto_pad", f->auto_pad);
    else gb_node_add_ints(c.node, "pads", f->pads, 4);
    gb_node_add_int(c.node, "ceil_mode", f->ceil_mode);
    if (strcmp(op, "AveragePool") == 0)
        gb_node_add_int(c.node, "count_include_pad", f->count_include_pad);
    return c;
}

/* Distinct values at least 0.05 apart in random order, so no two taps of a
 * max window are within the finite-difference step of each other. */
static void fill_distinct(gb_tensor *x, gb_rng *r) {
    for (int64_t i = 0; i < x->size; i++) x->data[i] = 0.05f * (float)(i - x->size / 2);
    for (int64_t i = x->size - 1; i > 0; i--) {
        int64_t j = gb_rng_below(r, (uint32_t)(i + 1));
        float t = x->data[i];
        x->data[i] = x->data[j];
        x->data[j] = t;
    }
}

static int gradcheck_pool(const char *op, const char *label, pool_cfg f, int seed) {
    gb_rng r;
    gb_rng_seed(&r, (uint64_t)seed, 5);
    gc_case c = pool_case(op, &f, &r);
    int bad = gc_finalize(&c);
    if (!bad) {
        fill_distinct(c.x, &r);
        gc_opts o = gc_default_opts();
        bad = gradcheck_model(c.m, c.x, &o, label);
    }
    gc_free(&c);
    return bad;
}

static void test_maxpool_grad(void) {
    pool_cfg plain = {2, 2, 6, 6, 2, 2, 2, 2, 1, 1, {0}, 0, 0, NULL};
    CHECK(gradcheck_pool("MaxPool", "max 2x2/2", plain, 1) == 0);
    pool_cfg strided = {1, 3, 7, 6, 3, 2, 2, 1, 1, 1, {1, 0, 1, 1}, 1, 0, NULL};
    CHECK(gradcheck_pool("MaxPool", "max 3x2 stride 2,1 pads ceil", strided, 2) == 0);
    pool_cfg dil = {2, 1, 8, 7, 2, 3, 1, 2, 2, 1, {1, 1, 0, 1}, 0, 0, NULL};
    CHECK(gradcheck_pool("MaxPool", "max dilated", dil, 3) == 0);
    pool_cfg same = {1, 2, 5, 7, 3, 3, 2, 2, 1, 1, {0}, 0, 0, "SAME_UPPER"};
    CHECK(gradcheck_pool("MaxPool", "max same_upper", same, 4) == 0);
}

static void test_avgpool_grad(void) {
    pool_cfg incl = {2, 2, 7, 6, 3, 3, 2, 2, 1, 1, {1, 1, 1, 0}, 1, 1, NULL};
    CHECK(gradcheck_pool("AveragePool", "avg include pad ceil", incl, 5) == 0);
    pool_cfg excl = incl;
    excl.count_include_pad = 0;
    CHECK(gradcheck_pool("AveragePool", "avg exclude pad ceil", excl, 6) == 0);
    pool_cfg plain = {1, 3, 6, 5, 2, 3, 1, 2, 1, 1, {0}, 0, 0, NULL};
    CHECK(gradcheck_pool("AveragePool", "avg overlapping", plain, 7) == 0);
}

static void test_global_avgpool_grad(void) {
    gb_rng r;
    gb_rng_seed(&r, 8, 1);
    int64_t xs[4] = {2, 3, 4, 5};
    gc_case c = gc_single_op("GlobalAveragePool", 4, xs, 0, NULL, NULL, &r);
    CHECK(gc_finalize(&c) == 0);
    gc_opts o = gc_default_opts();
    CHECK(gradcheck_model(c.m, c.x, &o, "global avg") == 0);
    const gb_tensor *y;
    CHECK_OK(gb_model_forward(c.m, c.x, &y));
    CHECK(y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 1 &&
          y->shape[3] == 1);
    double s = 0;
    for (int k = 0; k < 20; k++) s += c.x->data[20 + k]; /* image 0, channel 1 */
    CHECK(fabs(y->data[1] - s / 20) < 1e-5);
    gc_free(&c);
}

/* Output size with PyTorch's ceil_mode rule (independent of window.h);
 * <= 0 when nothing fits. */
static int64_t ref_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe,
                       int ceil_mode) {
    int64_t ek = (k - 1) * d + 1;
    double q = (double)(in + pb + pe - ek) / (double)s;
    if (in + pb + pe - ek < 0) return 0;
    int64_t out = (int64_t)(ceil_mode ? ceil(q) : floor(q)) + 1;
    if (ceil_mode && (out - 1) * s >= in + pb) out--;
    return out;
}

/* Direct pooling over each window's taps; max treats padding as -inf, avg
 * divides by the taps inside the input (exclude) or inside the padded input
 * (include). */
static float ref_pool(const float *plane, const pool_cfg *f, int64_t oh, int64_t ow, int is_max) {
    float best = -INFINITY;
    double sum = 0;
    int64_t inside = 0, padded = 0;
    for (int64_t i = 0; i < f->kh; i++)
        for (int64_t j = 0; j < f->kw; j++) {
            int64_t ih = oh * f->sh - f->pads[0] + i * f->dh;
            int64_t iw = ow * f->sw - f->pads[1] + j * f->dw;
            if (ih < f->h + f->pads[2] && iw < f->w + f->pads[3]) padded++;
            if (ih < 0 || ih >= f->h || iw < 0 || iw >= f->w) continue;
            float v = plane[ih * f->w + iw];
            if (v > best) best = v;
            sum += v;
            inside++;
        }
    if (is_max) return best;
    int64_t div = f->count_include_pad ? padded : inside;
    return div ? (float)(sum / (double)div) : 0.0f;
}

/* Forward of one configuration against ref_pool; returns 1 if compared. */
static int check_forward(int is_max, const pool_cfg *f, int iter, gb_rng *r) {
    int64_t oh = ref_out(f->h, f->kh, f->sh, f->dh, f->pads[0], f->pads[2], f->ceil_mode);
    int64_t ow = ref_out(f->w, f->kw, f->sw, f->dw, f->pads[1], f->pads[3], f->ceil_mode);
    const char *op = is_max ? "MaxPool" : "AveragePool";
    gc_case c = pool_case(op, f, r);
    gb_status s = gb_model_finalize(c.m);
    int compared = 0;
    const gb_tensor *y;
    if (oh < 1 || ow < 1) {
        CHECKF(s == GB_ERR_SHAPE, "iter %d: expected a shape error, got %s", iter,
               gb_status_name(s));
    } else if (s != GB_OK) {
        CHECKF(s == GB_OK, "iter %d (%s): %s", iter, op, gb_last_error());
    } else if (gb_model_forward(c.m, c.x, &y) == GB_OK) {
        CHECKF(y->shape[2] == oh && y->shape[3] == ow, "iter %d: output %lldx%lld, want %lldx%lld",
               iter, (long long)y->shape[2], (long long)y->shape[3], (long long)oh, (long long)ow);
        if (y->shape[2] == oh && y->shape[3] == ow) {
            int bad = 0;
            for (int64_t pc = 0; pc < f->n * f->c; pc++)
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j = 0; j < ow; j++) {
                        float want = ref_pool(c.x->data + pc * f->h * f->w, f, i, j, is_max);
                        float got = y->data[(pc * oh + i) * ow + j];
                        bad += !(got == want || fabsf(got - want) <= 1e-5f * (1 + fabsf(want)));
                    }
            CHECKF(bad == 0, "iter %d (%s): %d outputs differ from direct pooling", iter, op, bad);
            compared = 1;
        }
    }
    gc_free(&c);
    return compared;
}

static void test_forward_reference(void) {
    gb_rng r;
    gb_rng_seed(&r, 77, 1);
    /* The 2x2 stride-2 fast path, odd sizes (last row/column unused). */
    pool_cfg two = {2, 3, 7, 9, 2, 2, 2, 2, 1, 1, {0}, 0, 0, NULL};
    CHECK(check_forward(1, &two, -1, &r));
    two.ceil_mode = 1; /* now the last windows overhang: general path */
    CHECK(check_forward(1, &two, -2, &r));
    int tested = 0;
    for (int iter = 0; iter < 80; iter++) {
        int is_max = iter % 2 == 0;
        pool_cfg f = {0};
        f.n = 1 + gb_rng_below(&r, 3);
        f.c = 1 + gb_rng_below(&r, 3);
        f.h = 1 + gb_rng_below(&r, 9);
        f.w = 1 + gb_rng_below(&r, 9);
        f.kh = 1 + gb_rng_below(&r, 4);
        f.kw = 1 + gb_rng_below(&r, 4);
        f.sh = 1 + gb_rng_below(&r, 3);
        f.sw = 1 + gb_rng_below(&r, 3);
        f.dh = is_max ? 1 + gb_rng_below(&r, 2) : 1;
        f.dw = is_max ? 1 + gb_rng_below(&r, 2) : 1;
        for (int i = 0; i < 4; i++) f.pads[i] = gb_rng_below(&r, (uint32_t)(i % 2 ? f.kw : f.kh));
        f.ceil_mode = gb_rng_below(&r, 2);
        f.count_include_pad = gb_rng_below(&r, 2);
        tested += check_forward(is_max, &f, iter, &r);
    }
    CHECK(tested > 40);
}

/* Ties go to the first maximum: the whole gradient lands on one input. */
static void check_tie(int64_t stride) {
    gb_rng r;
    gb_rng_seed(&r, 9, 1);
    pool_cfg f = {1, 1, 2, 2, 2, 2, stride, stride, 1, 1, {0}, 0, 0, NULL};
    gc_case c = pool_case("MaxPool", &f, &r);
    CHECK(gc_finalize(&c) == 0);
    for (int i = 0; i < 4; i++) c.x->data[i] = 1.0f;
    const gb_tensor *y, *dx;
    CHECK_OK(gb_model_forward(c.m, c.x, &y));
    int64_t one[4] = {1, 1, 1, 1};
    gb_tensor *dy = gb_tensor_new(4, one);
    dy->data[0] = 2.0f;
    CHECK_OK(gb_model_backward(c.m, dy, GB_GRAD_INPUT, &dx));
    CHECK(dx->data[0] == 2.0f && dx->data[1] == 0 && dx->data[2] == 0 && dx->data[3] == 0);
    gb_tensor_free(dy);
    gc_free(&c);
}

static void test_maxpool_ties(void) {
    for (int stride = 1; stride <= 2; stride++) check_tie(stride); /* general and 2x2/2 paths */
}

/* The 2x2 stride-2 plane kernel's contract, written out tap by tap: the
 * first maximum in row-major order (strict >), so ties and -0.0 vs +0.0
 * keep the earlier tap and a NaN can only win as the window's first tap. */
static void ref_plane(float *y, int32_t *arg, const float *x, int64_t W, int64_t OH, int64_t OW) {
    for (int64_t i = 0; i < OH; i++)
        for (int64_t j = 0; j < OW; j++) {
            int64_t win = 2 * i * W + 2 * j;
            for (int t = 1; t < 4; t++) {
                int64_t at = 2 * i * W + 2 * j + (t / 2) * W + t % 2;
                if (x[at] > x[win]) win = at;
            }
            y[i * OW + j] = x[win];
            arg[i * OW + j] = (int32_t)win;
        }
}

/* Random H, W in [2, 40] (odd: last row/column unused) with values from a
 * small set, so that most windows tie, and both zeros; some planes get
 * NaNs. Plane and outputs are allocated at their exact size so that ASan
 * sees any read or write past them; values are compared as bits. */
static void test_maxpool2x2_plane(void) {
    gb_rng r;
    gb_rng_seed(&r, 2024, 3);
    const float vals[6] = {-1.0f, -0.0f, 0.0f, 0.0f, 1.0f, 2.0f};
    int bad = 0, shapes = 0, nan_planes = 0;
    for (int iter = 0; iter < 400; iter++) {
        int64_t H = 2 + gb_rng_below(&r, 39), W = 2 + gb_rng_below(&r, 39);
        if (iter < 4) H = W = iter < 2 ? 28 : 14; /* the shipped CNN's planes */
        int64_t OH = H / 2, OW = W / 2, n = OH * OW;
        float *x = malloc(sizeof(float) * (size_t)(H * W));
        float *y = malloc(sizeof(float) * (size_t)n), *yr = malloc(sizeof(float) * (size_t)n);
        int32_t *a = malloc(sizeof(int32_t) * (size_t)n), *ar = malloc(sizeof(int32_t) * (size_t)n);
        if (!x || !y || !yr || !a || !ar) abort();
        int with_nan = iter % 5 == 4;
        nan_planes += with_nan;
        for (int64_t k = 0; k < H * W; k++) {
            uint32_t u = gb_rng_below(&r, 64);
            x[k] = with_nan && u == 0 ? NAN : vals[u % 6];
            if (iter % 7 == 6 && u >= 48) x[k] = gb_rng_uniform(&r); /* some distinct values */
        }
        ref_plane(yr, ar, x, W, OH, OW);
        for (int impl = 0; impl < 2; impl++) { /* the vectorized one and the fallback */
            (impl ? gb_maxpool2x2_plane_scalar : gb_maxpool2x2_plane)(y, a, x, H, W, OH, OW);
            int diff = memcmp(y, yr, sizeof(float) * (size_t)n) != 0 ||
                       memcmp(a, ar, sizeof(int32_t) * (size_t)n) != 0;
            CHECKF(!diff, "%lldx%lld, %s: values or indices differ from the reference",
                   (long long)H, (long long)W, impl ? "scalar" : "default");
            bad += diff;
        }
        shapes++;
        free(x), free(y), free(yr), free(a), free(ar);
    }
    CHECK(bad == 0 && shapes == 400 && nan_planes > 50);
}

static gb_status try_pool(const char *op, int xnd, const int64_t *xs, void (*attrs)(gb_node *)) {
    gb_rng r;
    gb_rng_seed(&r, 1, 1);
    gc_case c = gc_single_op(op, xnd, xs, 0, NULL, NULL, &r);
    if (attrs) attrs(c.node);
    gb_status s = gb_model_finalize(c.m);
    gc_free(&c);
    return s;
}

static void k3(gb_node *n) {
    int64_t k[2] = {3, 3};
    gb_node_add_ints(n, "kernel_shape", k, 2);
}
static void k3_pad3(gb_node *n) {
    k3(n);
    int64_t p[4] = {3, 0, 0, 0};
    gb_node_add_ints(n, "pads", p, 4);
}
static void k3_order1(gb_node *n) {
    k3(n);
    gb_node_add_int(n, "storage_order", 1);
}
static void k1d(gb_node *n) {
    int64_t k[1] = {3};
    gb_node_add_ints(n, "kernel_shape", k, 1);
}
static void k9(gb_node *n) {
    int64_t k[2] = {9, 2};
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
    int64_t x4[4] = {1, 2, 8, 8}, x3[3] = {1, 2, 8};
    expect(try_pool("MaxPool", 4, x4, k3), GB_OK, "valid maxpool", NULL);
    expect(try_pool("MaxPool", 4, x4, NULL), GB_ERR_FORMAT, "no kernel_shape", "kernel_shape");
    expect(try_pool("AveragePool", 4, x4, k3_pad3), GB_ERR_UNSUPPORTED, "pad >= kernel", "pads");
    expect(try_pool("MaxPool", 4, x4, k3_order1), GB_ERR_UNSUPPORTED, "storage_order",
           "storage_order");
    expect(try_pool("MaxPool", 3, x3, k1d), GB_ERR_UNSUPPORTED, "1-D kernel", "2-D");
    expect(try_pool("MaxPool", 3, x3, k3), GB_ERR_UNSUPPORTED, "rank-3 input", "2-D");
    expect(try_pool("AveragePool", 4, x4, k9), GB_ERR_SHAPE, "kernel larger than input", "larger");
    int64_t x2[2] = {1, 2};
    expect(try_pool("GlobalAveragePool", 2, x2, NULL), GB_ERR_SHAPE, "global pool of rank 2",
           "spatial");
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_maxpool_grad);
    RUN(test_avgpool_grad);
    RUN(test_global_avgpool_grad);
    RUN(test_forward_reference);
    RUN(test_maxpool_ties);
    RUN(test_maxpool2x2_plane);
    RUN(test_bad_models);
    CHECK_DONE();
}
