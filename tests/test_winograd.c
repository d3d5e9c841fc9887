/* test_winograd.c — the F(2x2, 3x3) Winograd convolution (src/ops/
 * conv_winograd.c): the kernel against a direct 3x3 convolution on random
 * shapes, offsets, chunkings and both output modes; its dual (the input
 * gradient) against the direct input gradient; and a Conv node wide enough
 * to take the Winograd path in conv.c, checked against the direct
 * convolution, the direct input gradient, finite differences, and for
 * run-to-run determinism; and one-channel 3x3 convolutions (conv.c's direct
 * path) against the same direct reference. */
#include "check.h"
#include "gradcheck.h"
#include "ops/conv_winograd.h"

static float *rand_buf(gb_rng *r, int64_t n) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = 2.0f * gb_rng_uniform(r) - 1.0f;
    return p;
}

/* y[n][m][oh][ow] = sum_c,i,j x[n][c][oh+i-pt][ow+j-pl] w[m][c][i][j], taps
 * outside x reading 0, in double. */
static void ref_conv3(double *y, const float *x, const float *w, int64_t N, int64_t C, int64_t H,
                      int64_t W, int64_t M, int64_t OH, int64_t OW, int64_t pt, int64_t pl) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double s = 0;
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t i = 0; i < 3; i++)
                            for (int64_t j = 0; j < 3; j++) {
                                int64_t h = oh + i - pt, v = ow + j - pl;
                                if (h < 0 || h >= H || v < 0 || v >= W) continue;
                                s += (double)x[((n * C + c) * H + h) * W + v] *
                                     w[((m * C + c) * 3 + i) * 3 + j];
                            }
                    y[((n * M + m) * OH + oh) * OW + ow] = s;
                }
}

/* dx[n][c][h][w] = sum over the outputs (oh, ow) that read (h, w) through
 * tap (i, j) of dy * w: the transpose of ref_conv3, in double. */
static void ref_conv3_dx(double *dx, const float *dy, const float *w, int64_t N, int64_t C,
                         int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW, int64_t pt,
                         int64_t pl) {
    memset(dx, 0, (size_t)(N * C * H * W) * sizeof *dx);
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++)
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t i = 0; i < 3; i++)
                            for (int64_t j = 0; j < 3; j++) {
                                int64_t h = oh + i - pt, v = ow + j - pl;
                                if (h < 0 || h >= H || v < 0 || v >= W) continue;
                                dx[((n * C + c) * H + h) * W + v] +=
                                    (double)dy[((n * M + m) * OH + oh) * OW + ow] *
                                    w[((m * C + c) * 3 + i) * 3 + j];
                            }
}

/* Runs every chunk of plan p (in reverse order: chunks are independent). */
static void run_out(const gb_wino *p, const float *x, const float *U, const gb_wino_out *o) {
    float *ws = malloc((size_t)gb_wino_workspace(p) * sizeof *ws);
    for (int64_t k = p->nchunks - 1; k >= 0; k--) gb_wino_chunk(p, k, x, U, o, ws);
    free(ws);
}

static void run_plan(const gb_wino *p, float *y, const float *x, const float *U, const float *b,
                     int accumulate) {
    gb_wino_out o = {y, b, accumulate, 0, NULL, NULL, 0, 0};
    run_out(p, x, U, &o);
}

/* The fused outputs against the plain one, bit for bit: relu(y), and the
 * 2x2 pool of relu(y) with gb_maxpool2x2_plane's values and winners. y is
 * the plain output (N, M, OH, OW) of plan p. Returns the mismatches. */
static int check_fused_modes(const gb_wino *p, const float *x, const float *U, const float *b,
                             const float *y) {
    const int64_t N = p->N, M = p->M, OH = p->OH, OW = p->OW, PH = OH / 2, PW = OW / 2;
    const int64_t ny = N * M * OH * OW, np = N * M * PH * PW;
    float *r = malloc((size_t)ny * sizeof *r), *pool = malloc((size_t)(np + 1) * sizeof *pool);
    float *want = malloc((size_t)(np + 1) * sizeof *want);
    int32_t *arg = malloc((size_t)(np + 1) * sizeof *arg), *warg = malloc((size_t)(np + 1) * sizeof *warg);
    int bad = 0;
    gb_wino_out o = {r, b, 0, 1, NULL, NULL, 0, 0};
    run_out(p, x, U, &o);
    for (int64_t i = 0; i < ny; i++) bad += r[i] != (y[i] > 0 ? y[i] : 0.0f);
    if (np > 0) {
        o = (gb_wino_out){NULL, b, 0, 1, pool, arg, PH, PW};
        run_out(p, x, U, &o);
        for (int64_t pl = 0; pl < N * M; pl++)
            gb_maxpool2x2_plane_scalar(want + pl * PH * PW, warg + pl * PH * PW, y + pl * OH * OW,
                                       OH, OW, PH, PW);
        for (int64_t i = 0; i < np; i++)
            bad += pool[i] != (want[i] > 0 ? want[i] : 0.0f) || arg[i] != warg[i];
    }
    free(r), free(pool), free(want), free(arg), free(warg);
    return bad;
}

static int count_bad(const float *got, const double *want, const float *base, int64_t n) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double ref = want[i] + (base ? base[i] : 0);
        bad += !(fabs(got[i] - ref) <= 1e-4 * (1 + fabs(ref)));
    }
    return bad;
}

/* Forward (overwrite with bias, and accumulate) and dual, on random shapes,
 * offsets and thread counts (which change the chunking). */
static void test_kernel_random(void) {
    gb_rng r;
    gb_rng_seed(&r, 11, 1);
    for (int iter = 0; iter < 40; iter++) {
        int big = iter % 10 == 9; /* more tiles than one chunk holds */
        int wide = iter % 10 == 4; /* past WINO_OWN_GEMM: the OpenBLAS path */
        int64_t N = 1 + gb_rng_below(&r, big ? 4 : 3), C = 1 + gb_rng_below(&r, 6),
                M = 1 + gb_rng_below(&r, 6);
        if (wide) C = M = 129 + (int64_t)gb_rng_below(&r, 40);
        int64_t H = 1 + gb_rng_below(&r, big ? 30 : 9), W = 1 + gb_rng_below(&r, big ? 30 : 9);
        int64_t pads[4];
        for (int k = 0; k < 4; k++) pads[k] = gb_rng_below(&r, 3);
        int64_t OH = H + pads[0] + pads[2] - 2, OW = W + pads[1] + pads[3] - 2;
        if (OH < 1 || OW < 1) continue;
        int threads = 1 + (int)gb_rng_below(&r, 3);
        float *x = rand_buf(&r, N * C * H * W), *w = rand_buf(&r, M * C * 9);
        float *b = rand_buf(&r, M), *y = rand_buf(&r, N * M * OH * OW);
        float *y0 = malloc((size_t)(N * M * OH * OW) * sizeof *y0);
        memcpy(y0, y, (size_t)(N * M * OH * OW) * sizeof *y0);
        float *U = malloc((size_t)(16 * M * C) * sizeof *U);
        double *ref = malloc((size_t)(N * GB_MAX(M * OH * OW, C * H * W)) * sizeof *ref);

        gb_wino p = gb_wino_plan(N, C, H, W, M, OH, OW, pads[0], pads[1], threads);
        gb_wino_weights(U, w, M, C, 0);
        ref_conv3(ref, x, w, N, C, H, W, M, OH, OW, pads[0], pads[1]);
        run_plan(&p, y, x, U, NULL, 1); /* y = y0 + conv */
        int bad = count_bad(y, ref, y0, N * M * OH * OW);
        for (int64_t i = 0; i < N * M * OH * OW; i++) ref[i] += b[i / (OH * OW) % M];
        run_plan(&p, y, x, U, b, 0); /* y = conv + b */
        bad += count_bad(y, ref, NULL, N * M * OH * OW);
        int fused_bad = check_fused_modes(&p, x, U, b, y);
        CHECKF(fused_bad == 0, "iter %d: %d Relu'd or pooled outputs differ from the plain ones",
               iter, fused_bad);
        /* Each image alone gives its own outputs bit for bit: results do
         * not depend on the batch (black-box attacks re-query points in
         * other batches and must get the same label). The OpenBLAS path
         * does not promise it. */
        int alone_bad = 0;
        for (int64_t i = 0; i < N && !wide; i++) {
            gb_wino p1 = gb_wino_plan(1, C, H, W, M, OH, OW, pads[0], pads[1], 1);
            float *y1 = malloc((size_t)(M * OH * OW) * sizeof *y1);
            run_plan(&p1, y1, x + i * C * H * W, U, b, 0);
            alone_bad += memcmp(y1, y + i * M * OH * OW, (size_t)(M * OH * OW) * sizeof *y1) != 0;
            free(y1);
        }
        CHECKF(alone_bad == 0, "iter %d: %d images differ when convolved alone", iter, alone_bad);
        CHECKF(bad == 0, "iter %d: %d outputs of (%lld,%lld,%lld,%lld)->%lld pads %lld,%lld,%lld,%lld "
               "threads %d differ from the direct convolution", iter, bad, (long long)N,
               (long long)C, (long long)H, (long long)W, (long long)M, (long long)pads[0],
               (long long)pads[1], (long long)pads[2], (long long)pads[3], threads);

        /* Dual: dx (prefilled) += input gradient of the convolution at dy. */
        float *dy = rand_buf(&r, N * M * OH * OW), *dx = rand_buf(&r, N * C * H * W);
        float *dx0 = malloc((size_t)(N * C * H * W) * sizeof *dx0);
        memcpy(dx0, dx, (size_t)(N * C * H * W) * sizeof *dx0);
        gb_wino q = gb_wino_plan(N, M, OH, OW, C, H, W, 2 - pads[0], 2 - pads[1], threads);
        gb_wino_weights(U, w, M, C, 1);
        run_plan(&q, dx, dy, U, NULL, 1);
        ref_conv3_dx(ref, dy, w, N, C, H, W, M, OH, OW, pads[0], pads[1]);
        bad = count_bad(dx, ref, dx0, N * C * H * W);
        CHECKF(bad == 0, "iter %d: %d input-gradient values differ from the direct one", iter, bad);
        free(x), free(w), free(b), free(y), free(y0), free(U), free(ref), free(dy), free(dx),
            free(dx0);
    }
}

/* A Conv node with 64 channels in and out (conv.c's Winograd threshold). */
static gc_case wide_conv(gb_rng *r, const int64_t pads[4], int bias) {
    int64_t xs[4] = {2, 64, 6, 5};
    int pnd[2] = {4, bias ? 1 : 0};
    int64_t ps[2][GB_MAX_DIMS] = {{64, 64, 3, 3}, {64}};
    gc_case c = gc_single_op("Conv", 4, xs, bias ? 2 : 1, pnd, ps, r);
    gb_node_add_ints(c.node, "pads", pads, 4);
    return c;
}

/* L = sum(y * R) in double. */
static double loss_at(gb_model *m, const gb_tensor *x, const float *R) {
    const gb_tensor *y;
    if (gb_model_forward(m, x, &y) != GB_OK) return NAN;
    double s = 0;
    for (int64_t i = 0; i < y->size; i++) s += (double)y->data[i] * R[i];
    return s;
}

static void test_conv_node(void) {
    static const int64_t padsets[2][4] = {{1, 1, 1, 1}, {0, 2, 1, 0}};
    for (int ps = 0; ps < 2; ps++) {
        gb_rng r;
        gb_rng_seed(&r, 21 + (uint64_t)ps, 1);
        const int64_t *pads = padsets[ps];
        gc_case c = wide_conv(&r, pads, ps == 0);
        CHECK(gc_finalize(&c) == 0);
        const int64_t N = 2, C = 64, H = 6, W = 5, M = 64;
        const int64_t OH = H + pads[0] + pads[2] - 2, OW = W + pads[1] + pads[3] - 2;
        const float *w = c.m->vals[gb_model_find_value(c.m, "p1")].t.data;
        const float *b = ps == 0 ? c.m->vals[gb_model_find_value(c.m, "p2")].t.data : NULL;
        const gb_tensor *y, *dx;
        CHECK_OK(gb_model_forward(c.m, c.x, &y));
        CHECK(y->size == N * M * OH * OW);
        double *ref = malloc((size_t)(N * M * OH * OW + N * C * H * W) * sizeof *ref);
        ref_conv3(ref, c.x->data, w, N, C, H, W, M, OH, OW, pads[0], pads[1]);
        if (b)
            for (int64_t i = 0; i < N * M * OH * OW; i++) ref[i] += b[i / (OH * OW) % M];
        CHECKF(count_bad(y->data, ref, NULL, y->size) == 0, "pads %d: forward differs", ps);
        gb_tensor *y1 = gb_tensor_clone(y);
        CHECK_OK(gb_model_forward(c.m, c.x, &y));
        CHECK(memcmp(y->data, y1->data, (size_t)y->size * sizeof(float)) == 0);

        gb_tensor *R = gb_tensor_new(y->ndim, y->shape);
        gc_fill_uniform(R, &r, -1, 1);
        CHECK_OK(gb_model_backward(c.m, R, GB_GRAD_INPUT, &dx));
        ref_conv3_dx(ref, R->data, w, N, C, H, W, M, OH, OW, pads[0], pads[1]);
        CHECKF(count_bad(dx->data, ref, NULL, dx->size) == 0, "pads %d: input gradient differs", ps);
        gb_tensor *dx1 = gb_tensor_clone(dx);
        CHECK_OK(gb_model_backward(c.m, R, GB_GRAD_INPUT, &dx));
        CHECK(memcmp(dx->data, dx1->data, (size_t)dx->size * sizeof(float)) == 0);

        /* Central differences on sampled inputs (L is linear in x, so only
         * rounding separates them). */
        int bad = 0;
        for (int s = 0; s < 40; s++) {
            int64_t i = (int64_t)gb_rng_below(&r, (uint64_t)c.x->size);
            float keep = c.x->data[i];
            const float h = 1e-2f;
            c.x->data[i] = keep + h;
            double lp = loss_at(c.m, c.x, R->data);
            c.x->data[i] = keep - h;
            double lm = loss_at(c.m, c.x, R->data);
            c.x->data[i] = keep;
            double num = (lp - lm) / (2.0 * h);
            bad += !(fabs(dx1->data[i] - num) <= 2e-3 + 2e-2 * fabs(num));
        }
        CHECKF(bad == 0, "pads %d: %d sampled gradients differ from finite differences", ps, bad);
        free(ref);
        gb_tensor_free(y1);
        gb_tensor_free(dx1);
        gb_tensor_free(R);
        gc_free(&c);
    }
}

/* One-channel 3x3 convolutions (conv.c's direct path when the output rows
 * have at least 8 pixels, im2col otherwise) against the double-precision
 * reference, on random sizes and pads, with and without bias. */
static void test_conv1_direct(void) {
    gb_rng r;
    gb_rng_seed(&r, 31, 1);
    for (int iter = 0; iter < 24; iter++) {
        const int64_t N = 2, H = 1 + (int64_t)gb_rng_below(&r, 33), W = 6 + (int64_t)gb_rng_below(&r, 35);
        const int64_t M = 1 + (int64_t)gb_rng_below(&r, 9);
        int64_t pads[4];
        for (int k = 0; k < 4; k++) pads[k] = (int64_t)gb_rng_below(&r, 3);
        const int64_t OH = H + pads[0] + pads[2] - 2, OW = W + pads[1] + pads[3] - 2;
        if (OH < 1 || OW < 1) continue;
        int bias = iter % 2;
        int64_t xs[4] = {N, 1, H, W};
        int pnd[2] = {4, bias ? 1 : 0};
        int64_t ps[2][GB_MAX_DIMS] = {{M, 1, 3, 3}, {M}};
        gc_case c = gc_single_op("Conv", 4, xs, bias ? 2 : 1, pnd, ps, &r);
        gb_node_add_ints(c.node, "pads", pads, 4);
        CHECK(gc_finalize(&c) == 0);
        const float *w = c.m->vals[gb_model_find_value(c.m, "p1")].t.data;
        const float *b = bias ? c.m->vals[gb_model_find_value(c.m, "p2")].t.data : NULL;
        const gb_tensor *y;
        CHECK_OK(gb_model_forward(c.m, c.x, &y));
        double *ref = malloc((size_t)(N * M * OH * OW) * sizeof *ref);
        ref_conv3(ref, c.x->data, w, N, 1, H, W, M, OH, OW, pads[0], pads[1]);
        if (b)
            for (int64_t i = 0; i < N * M * OH * OW; i++) ref[i] += b[i / (OH * OW) % M];
        CHECKF(y->size == N * M * OH * OW && count_bad(y->data, ref, NULL, y->size) == 0,
               "iter %d: (%lld, %lld) pads %lld,%lld,%lld,%lld M %lld: one-channel conv differs",
               iter, (long long)H, (long long)W, (long long)pads[0], (long long)pads[1],
               (long long)pads[2], (long long)pads[3], (long long)M);
        free(ref);
        gc_free(&c);
    }
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_kernel_random);
    RUN(test_conv_node);
    RUN(test_conv1_direct);
    CHECK_DONE();
}
