/* test_transforms.c — the differentiable physical transformations
 * (src/transforms/): each stage's backward against central finite
 * differences of L = sum(T(x) * R) (gradcheck.h's convention and
 * tolerance form |a - n| <= atol + rtol |n|), the patch paste w.r.t. image
 * and patch, NPS and TV gradients; plus forward semantics checked against
 * independent formulas (a 90-degree turn and an integer shift move pixels
 * exactly where they should, blur keeps a flat image flat, the corner fit
 * maps corners), spec parsing, masks, palette files and determinism. */
#include "check.h"
#include "gradcheck.h"
#include "transforms/transforms.h"

#include <math.h>
#include <unistd.h>

/* ---- a finite-difference checker over any function of a float array ---- */

typedef double (*fd_fn)(void *ctx);

/* Compares analytic[i] with (f(v_i + h) - f(v_i - h)) / 2h for every value
 * of v (n values, perturbed in place). Returns the mismatches. */
static int fd_check(const char *label, fd_fn f, void *ctx, float *v, const float *analytic, int64_t n,
                    double h, double atol, double rtol) {
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        float saved = v[i], up = (float)(saved + h), down = (float)(saved - h);
        v[i] = up;
        double lp = f(ctx);
        v[i] = down;
        double lm = f(ctx);
        v[i] = saved;
        double num = (lp - lm) / ((double)up - (double)down), err = fabs(analytic[i] - num);
        double r = err / (atol + rtol * fabs(num));
        if (r > 1) {
            if (bad < 3) fprintf(stderr, "  %s[%lld]: analytic %.6g numeric %.6g\n", label, (long long)i, analytic[i], num);
            bad++;
        }
        if (r > worst) worst = r;
    }
    if (bad) fprintf(stderr, "  %s: %d of %lld mismatched (worst err/tol %.2f)\n", label, bad, (long long)n, worst);
    return bad;
}

static double dot(const gb_tensor *a, const gb_tensor *b) {
    double s = 0;
    for (int64_t i = 0; i < a->size; i++) s += (double)a->data[i] * b->data[i];
    return s;
}

/* ---- pipeline stages ---- */

typedef struct pipe_ctx {
    gb_tf_pipeline *p;
    gb_tf_params *q;
    gb_tensor *x, *y, *R;
} pipe_ctx;

static double pipe_loss(void *c) {
    pipe_ctx *k = c;
    if (gb_tf_pipeline_forward(k->p, k->q, k->x, k->y)) return NAN;
    return dot(k->y, k->R);
}

/* Checks dx of the pipeline with the given per-example params; all outputs
 * must stay off the clamp's kinks, which the caller's parameters ensure
 * (checked here). */
static void check_stage(const char *label, gb_tf_params *q, int C, float xlo, float xhi) {
    const int N = 2, H = 9, W = 8;
    gb_rng r;
    gb_rng_seed(&r, 42, 1);
    gb_tf_pipeline *p = NULL;
    CHECK_OK(gb_tf_pipeline_parse("", &p));
    gb_tensor *x = gb_tensor_new4(N, C, H, W), *y = gb_tensor_new4(N, C, H, W), *R = gb_tensor_new4(N, C, H, W);
    gb_tensor *dx = gb_tensor_new4(N, C, H, W);
    gc_fill_uniform(x, &r, xlo, xhi);
    gc_fill_uniform(R, &r, -1, 1);
    pipe_ctx k = {p, q, x, y, R};
    CHECK_OK(gb_tf_pipeline_forward(p, q, x, y));
    int inside = 1;
    /* Exact zeros are pixels the warp maps outside the source: constant, no kink. */
    for (int64_t i = 0; i < y->size; i++) inside &= y->data[i] == 0 || (y->data[i] > 0.002f && y->data[i] < 0.998f);
    CHECKF(inside, "%s: outputs touch the clamp; the test's parameters are too strong", label);
    CHECK_OK(gb_tf_pipeline_backward(p, q, R, dx));
    CHECKF(fd_check(label, pipe_loss, &k, x->data, dx->data, x->size, 1e-3, 1e-3, 1e-2) == 0, "%s", label);
    /* Backward accumulates: a second call doubles dx. */
    gb_tensor *dx2 = gb_tensor_clone(dx);
    CHECK_OK(gb_tf_pipeline_forward(p, q, x, y)); /* the checker left its last probe's state */
    CHECK_OK(gb_tf_pipeline_backward(p, q, R, dx2));
    double diff = 0;
    for (int64_t i = 0; i < dx->size; i++) diff = fmax(diff, fabs(dx2->data[i] - 2 * dx->data[i]));
    CHECKF(diff < 1e-5, "%s: backward does not accumulate (%g)", label, diff);
    gb_tensor_free(dx2);
    gb_tensor_free(x), gb_tensor_free(y), gb_tensor_free(R), gb_tensor_free(dx);
    gb_tf_pipeline_free(p);
}

static void test_stage_gradients(void) {
    gb_tf_params q[2];
    /* Each stage alone, on colour and grey images. */
    for (int C = 1; C <= 3; C += 2) {
        gb_tf_pipeline *p;
        gb_rng r;
        gb_rng_seed(&r, 7, 0);
        CHECK_OK(gb_tf_pipeline_parse("rotate=-30:30,scale=0.8:1.2,translate=-0.1:0.1,shear=-0.2:0.2,perspective=0.1", &p));
        gb_tf_pipeline_sample(p, 2, 9, 8, &r, q);
        check_stage(C == 3 ? "warp rgb" : "warp grey", q, C, 0.1f, 0.9f);
        gb_tf_pipeline_free(p);

        q[0] = q[1] = gb_tf_identity();
        q[0].gamut = 1, q[1].gamut = 0.4f;
        check_stage("gamut", q, C, 0.05f, 0.95f);

        q[0] = q[1] = gb_tf_identity();
        for (int k = 0; k < 3; k++) q[0].gain[k] = 0.7f + 0.1f * k, q[0].bias[k] = 0.05f, q[1].gain[k] = 1.1f, q[1].bias[k] = -0.04f;
        check_stage("gain/bias", q, C, 0.1f, 0.85f);

        q[0] = q[1] = gb_tf_identity();
        q[0].gamma = 0.6f, q[1].gamma = 1.8f;
        check_stage("gamma", q, C, 0.1f, 0.9f);

        q[0] = q[1] = gb_tf_identity();
        q[0].blur = 0.7f, q[1].blur = 2.3f;
        check_stage("blur", q, C, 0.1f, 0.9f);

        q[0] = q[1] = gb_tf_identity();
        q[0].noise = 0.02f, q[1].noise = 0.01f;
        q[0].noise_seed = 3, q[1].noise_seed = 4;
        check_stage("noise", q, C, 0.2f, 0.8f);
    }
    /* Everything at once, drawn from a spec. */
    gb_tf_pipeline *p;
    gb_rng r;
    gb_rng_seed(&r, 11, 0);
    CHECK_OK(gb_tf_pipeline_parse("rotate=-20:20,scale=0.9:1.1,perspective=0.05,brightness=-0.05:0.05,"
                                  "contrast=0.8:1.1,cast=0.9:1.05,gamma=0.8:1.25,blur=0.5:1.5,noise=0.01,print=0.5", &p));
    gb_tf_pipeline_sample(p, 2, 9, 8, &r, q);
    check_stage("all stages", q, 3, 0.3f, 0.7f);
    gb_tf_pipeline_free(p);
}

/* ---- forward semantics against independent formulas ---- */

static void test_warp_semantics(void) {
    const int S = 8;
    gb_tensor *x = gb_tensor_new4(1, 1, S, S), *y = gb_tensor_new4(1, 1, S, S);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (float)(i % 13) / 13.0f;
    gb_tf_pipeline *p;
    gb_rng r;
    gb_rng_seed(&r, 1, 1);
    gb_tf_params q;
    /* A quarter turn about the centre: out[i][j] = in[S-1-j][i] (y axis down). */
    CHECK_OK(gb_tf_pipeline_parse("rotate=90", &p));
    gb_tf_pipeline_sample(p, 1, S, S, &r, &q);
    CHECK_OK(gb_tf_pipeline_forward(p, &q, x, y));
    double err = 0;
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) err = fmax(err, fabs(y->data[i * S + j] - x->data[(S - 1 - j) * S + i]));
    CHECKF(err < 1e-5, "rotate=90 is not a quarter turn (max err %g)", err);
    gb_tf_pipeline_free(p);
    /* An integer shift: translate=0.25 moves 2 pixels right and down, zeros enter. */
    CHECK_OK(gb_tf_pipeline_parse("translate=0.25", &p));
    gb_tf_pipeline_sample(p, 1, S, S, &r, &q);
    CHECK_OK(gb_tf_pipeline_forward(p, &q, x, y));
    err = 0;
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            float want = (i >= 2 && j >= 2) ? x->data[(i - 2) * S + j - 2] : 0.0f;
            err = fmax(err, fabs(y->data[i * S + j] - want));
        }
    CHECKF(err < 1e-5, "translate=0.25 is not a 2-pixel shift (max err %g)", err);
    gb_tf_pipeline_free(p);
    /* Blur keeps a flat image flat (normalized kernel, clamped edges). */
    for (int64_t i = 0; i < x->size; i++) x->data[i] = 0.3f;
    q = gb_tf_identity();
    q.blur = 2.5f;
    CHECK_OK(gb_tf_pipeline_parse("", &p));
    CHECK_OK(gb_tf_pipeline_forward(p, &q, x, y));
    err = 0;
    for (int64_t i = 0; i < y->size; i++) err = fmax(err, fabs(y->data[i] - 0.3f));
    CHECKF(err < 1e-5, "blur changes a flat image (%g)", err);
    /* Gain/bias is the contrast/brightness formula; gamma is a power. */
    q = gb_tf_identity();
    q.gain[0] = 1.5f, q.bias[0] = -0.1f, q.gamma = 2;
    CHECK_OK(gb_tf_pipeline_forward(p, &q, x, y));
    CHECKF(fabsf(y->data[5] - powf(1.5f * 0.3f - 0.1f, 2)) < 1e-6f, "gain/gamma: %g", y->data[5]);
    gb_tf_pipeline_free(p);
    gb_tensor_free(x), gb_tensor_free(y);

    /* The four-corner fit maps the corners. */
    float src[8] = {0, 0, 10, 0, 10, 10, 0, 10}, dst[8] = {1, -1, 11, 0.5f, 9, 12, -1, 9}, H[9];
    CHECK(gb_mat3_from_corners(src, dst, H));
    err = 0;
    for (int k = 0; k < 4; k++) {
        float u = src[2 * k], v = src[2 * k + 1], z = H[6] * u + H[7] * v + H[8];
        err = fmax(err, fabs((H[0] * u + H[1] * v + H[2]) / z - dst[2 * k]));
        err = fmax(err, fabs((H[3] * u + H[4] * v + H[5]) / z - dst[2 * k + 1]));
    }
    CHECKF(err < 1e-4, "corner fit error %g", err);
    float Hi[9], I[9];
    CHECK(gb_mat3_inverse(H, Hi));
    gb_mat3_mul(H, Hi, I);
    err = 0;
    for (int k = 0; k < 9; k++) err = fmax(err, fabs(I[k] - (k % 4 == 0)));
    CHECKF(err < 1e-5, "inverse error %g", err);
}

static void test_spec(void) {
    gb_tf_pipeline *p = NULL;
    CHECK_OK(gb_tf_pipeline_parse("rotate=-15:15,scale=0.9:1.1,brightness=-0.1:0.1,noise=0.02", &p));
    CHECK(p && strcmp(gb_tf_pipeline_spec(p), "rotate=-15:15,scale=0.9:1.1,brightness=-0.1:0.1,noise=0.02:0.02") == 0);
    gb_tf_pipeline_free(p);
    CHECK_OK(gb_tf_pipeline_parse("print=1", &p));
    CHECK(p && strstr(gb_tf_pipeline_spec(p), "blur=0.3:1") && strstr(gb_tf_pipeline_spec(p), "exposure=0.85:1.15"));
    gb_tf_pipeline_free(p);
    CHECK_OK(gb_tf_pipeline_parse("none", &p));
    CHECK(p && strcmp(gb_tf_pipeline_spec(p), "none") == 0);
    gb_tf_pipeline_free(p);
    const char *bad[] = {"rotate", "spin=3", "scale=1.2:0.8", "blur=9", "noise=abc", "gamma=0", "rotate=1:2:3", "print=2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = NULL;
        gb_status s = gb_tf_pipeline_parse(bad[i], &p);
        CHECKF(s == GB_ERR_ARG && !p && strstr(gb_last_error(), "transforms"), "'%s' accepted", bad[i]);
    }
    /* Same seed, same samples; samples stay in their ranges. */
    CHECK_OK(gb_tf_pipeline_parse("rotate=-15:15,gamma=0.8:1.2,blur=0.5:1", &p));
    gb_tf_params a[50], b[50];
    gb_rng r1, r2;
    gb_rng_seed(&r1, 5, 0);
    gb_rng_seed(&r2, 5, 0);
    gb_tf_pipeline_sample(p, 50, 16, 16, &r1, a);
    gb_tf_pipeline_sample(p, 50, 16, 16, &r2, b);
    CHECK(memcmp(a, b, sizeof a) == 0);
    int ok = 1;
    for (int i = 0; i < 50; i++) ok &= a[i].gamma >= 0.8f && a[i].gamma <= 1.2f && a[i].blur >= 0.5f && a[i].blur <= 1;
    CHECK(ok);
    gb_tf_pipeline_free(p);
}

/* ---- the patch paste ---- */

typedef struct paste_ctx {
    gb_tensor *x, *patch, *y, *R;
    float *mask, *hinv;
} paste_ctx;

static double paste_loss(void *c) {
    paste_ctx *k = c;
    if (gb_patch_paste_forward(k->x, k->patch, k->mask, k->hinv, k->y)) return NAN;
    return dot(k->y, k->R);
}

static void test_patch_paste(void) {
    const int N = 3, C = 3, H = 12, W = 10, P = 5;
    gb_rng r;
    gb_rng_seed(&r, 9, 0);
    gb_tensor *x = gb_tensor_new4(N, C, H, W), *y = gb_tensor_new4(N, C, H, W), *R = gb_tensor_new4(N, C, H, W);
    gb_tensor *dx = gb_tensor_new4(N, C, H, W);
    int64_t ps[3] = {C, P, P};
    gb_tensor *patch = gb_tensor_new(3, ps), *dpatch = gb_tensor_new(3, ps);
    float mask[P * P], hinv[9 * N];
    gc_fill_uniform(x, &r, 0, 1);
    gc_fill_uniform(patch, &r, 0, 1);
    gc_fill_uniform(R, &r, -1, 1);
    for (int k = 0; k < P * P; k++) mask[k] = 0.25f + 0.75f * gb_rng_uniform(&r); /* soft edges too */
    for (int n = 0; n < N; n++) gb_patch_placement(H, W, P, 0.2f, 0.3f, 40, &r, hinv + 9 * n);
    paste_ctx k = {x, patch, y, R, mask, hinv};
    CHECK_OK(gb_patch_paste_backward(R, patch, mask, hinv, dx, dpatch));
    CHECK(fd_check("paste dx", paste_loss, &k, x->data, dx->data, x->size, 1e-3, 1e-4, 1e-3) == 0);
    CHECK(fd_check("paste dpatch", paste_loss, &k, patch->data, dpatch->data, patch->size, 1e-3, 1e-4, 1e-3) == 0);
    /* The patch lands where the placement says: with a hard mask, the image
     * centre pixel under an axis-aligned, centred, full-size paste is the patch's. */
    for (int i = 0; i < P * P; i++) mask[i] = 1;
    gb_rng_seed(&r, 1, 0);
    float h1[9];
    gb_patch_placement(P, P, P, 1.0f, 0, 0, &r, h1);
    gb_tensor *x1 = gb_tensor_new4(1, C, P, P), *y1 = gb_tensor_new4(1, C, P, P);
    CHECK_OK(gb_patch_paste_forward(x1, patch, mask, h1, y1));
    double err = 0;
    for (int64_t i = 0; i < y1->size; i++) err = fmax(err, fabs(y1->data[i] - patch->data[i]));
    CHECKF(err < 1e-5, "full-size paste differs from the patch (%g)", err);
    gb_tensor_free(x1), gb_tensor_free(y1);
    gb_tensor_free(x), gb_tensor_free(y), gb_tensor_free(R), gb_tensor_free(dx);
    gb_tensor_free(patch), gb_tensor_free(dpatch);
}

/* ---- printability ---- */

typedef struct print_ctx {
    float *img, *mask, *pal;
    int c, h, w, n;
} print_ctx;

static double nps_loss(void *c) {
    print_ctx *k = c;
    return gb_nps(k->img, k->mask, k->c, k->h, k->w, k->pal, k->n, NULL);
}

static double tv_loss(void *c) {
    print_ctx *k = c;
    return gb_tv(k->img, k->c, k->h, k->w, NULL);
}

/* gb_patch_placement_in: with no rotation the patch centre (where hinv maps
 * to (P/2, P/2)) lies in a pixel of the region (a 3x3 block away from the
 * border), every draw; an empty region falls back to anywhere in the image. */
static void test_patch_placement_region(void) {
    const int H = 48, W = 40, P = 6;
    float region[48 * 40] = {0}, hinv[9];
    for (int y = 10; y < 13; y++)
        for (int x = 20; x < 23; x++) region[y * W + x] = 1;
    gb_rng r;
    gb_rng_seed(&r, 3, 0);
    int inside = 0, spread = 0;
    float first = -1;
    for (int t = 0; t < 200; t++) {
        gb_patch_placement_in(H, W, P, 0.02f, 0, 0, region, &r, hinv);
        /* Unrotated: hinv = [a 0 P/2 - a cx; 0 a P/2 - a cy]. */
        float cx = (0.5f * P - hinv[2]) / hinv[0], cy = (0.5f * P - hinv[5]) / hinv[4];
        inside += cx >= 20 && cx <= 23 && cy >= 10 && cy <= 13;
        if (first < 0) first = cx;
        spread |= fabsf(cx - first) > 0.5f;
    }
    CHECKF(inside == 200 && spread, "region placement: %d of 200 centres in the region", inside);
    float none[48 * 40] = {0};
    int far = 0;
    for (int t = 0; t < 200; t++) {
        gb_patch_placement_in(H, W, P, 0.02f, 0, 0, none, &r, hinv);
        float cx = (0.5f * P - hinv[2]) / hinv[0];
        far += cx < 15 || cx > 28;
    }
    CHECKF(far > 50, "empty region: only %d of 200 centres away from the middle", far);
}

static void test_printability(void) {
    float *pal = NULL;
    int n = 0;
    CHECK_OK(gb_palette_load("data/palette.txt", &pal, &n));
    CHECKF(n >= 20 && n <= 64, "default palette has %d colours", n);
    gb_rng r;
    gb_rng_seed(&r, 3, 0);
    for (int c = 1; c <= 3; c += 2) {
        const int h = 5, w = 6, D = c * h * w;
        float img[3 * 5 * 6], g[3 * 5 * 6], mask[5 * 6];
        for (int i = 0; i < D; i++) img[i] = gb_rng_uniform(&r);
        for (int i = 0; i < h * w; i++) mask[i] = i % 3 != 0;
        print_ctx k = {img, mask, pal, c, h, w, n};
        memset(g, 0, sizeof g);
        gb_nps(img, mask, c, h, w, pal, n, g);
        /* Both scores are computed in double: a small step keeps clear of TV's kinks and NPS's curvature. */
        CHECK(fd_check(c == 3 ? "nps rgb" : "nps grey", nps_loss, &k, img, g, D, 1e-5, 1e-12, 1e-3) == 0);
        int zero_outside = 1;
        for (int i = 0; i < h * w; i++)
            if (!mask[i]) zero_outside &= g[i] == 0;
        CHECK(zero_outside);
        memset(g, 0, sizeof g);
        gb_tv(img, c, h, w, g);
        CHECK(fd_check(c == 3 ? "tv rgb" : "tv grey", tv_loss, &k, img, g, D, 1e-5, 1e-6, 1e-3) == 0);
    }
    /* By hand for two colours: NPS(p) = |p - c1| |p - c2| (plus the tiny floor). */
    float two[6] = {0, 0, 0, 1, 0.5f, 0.25f}, px[3] = {0.2f, 0.4f, 0.6f};
    double d1 = sqrt(0.04 + 0.16 + 0.36), d2 = sqrt(0.64 + 0.01 + 0.1225);
    CHECKF(fabs(gb_nps(px, NULL, 3, 1, 1, two, 2, NULL) - d1 * d2) < 1e-5, "NPS by hand");
    /* Descending NPS pulls a pixel onto a printable colour: the score's job. */
    for (int trial = 0; trial < 5; trial++) {
        float q[3], g3[3];
        for (int k2 = 0; k2 < 3; k2++) q[k2] = gb_rng_uniform(&r);
        for (int it = 0; it < 400; it++) {
            memset(g3, 0, sizeof g3);
            gb_nps(q, NULL, 3, 1, 1, pal, n, g3);
            double gn = sqrt(g3[0] * g3[0] + g3[1] * g3[1] + g3[2] * g3[2]) + 1e-30;
            for (int k2 = 0; k2 < 3; k2++) q[k2] -= (float)(0.004 * g3[k2] / gn);
        }
        double best = 1e9;
        for (int c = 0; c < n; c++) {
            double d = 0;
            for (int k2 = 0; k2 < 3; k2++) d += (q[k2] - pal[3 * c + k2]) * (q[k2] - pal[3 * c + k2]);
            best = fmin(best, sqrt(d));
        }
        CHECKF(best < 0.01, "NPS descent ends %g from the nearest palette colour", best);
    }
    /* TV of a flat image is ~0, of a checkerboard large. */
    float flat[16], checker[16];
    for (int i = 0; i < 16; i++) flat[i] = 0.4f, checker[i] = (i / 4 + i % 4) % 2 ? 1.0f : 0.0f;
    CHECK(gb_tv(flat, 1, 4, 4, NULL) < 1e-2 && gb_tv(checker, 1, 4, 4, NULL) > 10);
    gb_free(pal);

    char path[] = "/tmp/gibbon_palXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\n0 0 0\n\n255 10 3\n300 0 0\n", f);
    fclose(f);
    gb_status s = gb_palette_load(path, &pal, &n);
    CHECKF(s == GB_ERR_FORMAT && strstr(gb_last_error(), ":5:"), "bad palette line: %s", gb_last_error());
    remove(path);
    CHECK(gb_palette_load("/nonexistent/palette.txt", &pal, &n) == GB_ERR_IO);
}

/* ---- masks ---- */

static double area(const float *m, int n) {
    double a = 0;
    for (int i = 0; i < n; i++) a += m[i];
    return a / n;
}

static void test_masks(void) {
    float m[64 * 64];
    CHECK_OK(gb_mask_make("circle", 64, 64, m));
    CHECKF(fabs(area(m, 64 * 64) - 3.14159265 / 4) < 0.01, "circle area %g", area(m, 64 * 64));
    CHECK_OK(gb_mask_make("rect:0,0,0.5,0.25", 64, 64, m));
    CHECKF(fabs(area(m, 64 * 64) - 0.125) < 1e-9, "rect area %g", area(m, 64 * 64));
    CHECK_OK(gb_mask_make("rect", 64, 64, m));
    double ra = area(m, 64 * 64);
    CHECKF(ra > 0.08 && ra < 0.2, "sticker bars area %g", ra);
    for (int s = 28; s <= 64; s += 36) {
        CHECK_OK(gb_mask_make("glasses", s, s, m));
        double ga = area(m, s * s);
        CHECKF(ga > 0.08 && ga < 0.3, "glasses area at %d: %g", s, ga);
        int sym = 1, lower_half_empty = 1;
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) {
                sym &= m[i * s + j] == m[i * s + s - 1 - j];
                if (i > 0.6 * s) lower_half_empty &= m[i * s + j] == 0;
            }
        CHECK(sym && lower_half_empty);
    }
    const char *bad[] = {"triangle", "rect:0.5,0,0.2,1", "rect:0,0,2,1", "/nonexistent/m.png"};
    for (size_t i = 0; i < 4; i++) CHECKF(gb_mask_make(bad[i], 8, 8, m) != GB_OK, "'%s' accepted", bad[i]);
    /* A PNG mask: white left half on black, at another resolution. */
    gb_image *im = gb_image_new(40, 20, 0, 0, 0);
    for (int i = 0; i < 20; i++)
        for (int j = 0; j < 20; j++) im->rgb[3 * (i * 40 + j)] = im->rgb[3 * (i * 40 + j) + 1] = im->rgb[3 * (i * 40 + j) + 2] = 255;
    char path[] = "/tmp/gibbon_maskXXXXXX.png";
    int fd = mkstemps(path, 4);
    close(fd);
    CHECK_OK(gb_png_write(path, im));
    CHECK_OK(gb_mask_make(path, 10, 10, m));
    int ok = 1;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++) ok &= m[i * 10 + j] == (j < 5 ? 1.0f : 0.0f);
    CHECK(ok);
    FILE *f = fopen(path, "wb");
    fputs("not a png", f);
    fclose(f);
    CHECKF(gb_mask_make(path, 10, 10, m) != GB_OK && strstr(gb_last_error(), path), "corrupt PNG: %s", gb_last_error());
    remove(path);
    gb_image_free(im);
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_stage_gradients);
    RUN(test_warp_semantics);
    RUN(test_spec);
    RUN(test_patch_paste);
    RUN(test_patch_placement_region);
    RUN(test_printability);
    RUN(test_masks);
    CHECK_DONE();
}
