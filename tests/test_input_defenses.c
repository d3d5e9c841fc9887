/* test_input_defenses.c — input transformations (JPEG, bit depth, median,
 * random resize-and-pad), EOT, feature squeezing and randomized smoothing.
 *  - forward against independent reference loops written here from the
 *    definitions (direct DCT sums, brute-force medians);
 *  - backward by finite differences (median, resize-pad) and the BPDA choice
 *    (quantizers: zero, or the identity with bpda);
 *  - EOT's gradient is the mean of the single-pass gradients;
 *  - the adaptive evaluation on the shipped model: bit depth and JPEG "stop"
 *    PGD through their honest (zero) derivative, BPDA breaks them again;
 *  - the statistics against exact binomial sums and normal-table values, and
 *    CERTIFY on a linear classifier whose certified radius is known. */
#include "attacks/attacks.h"
#include "check.h"
#include "defenses/defenses.h"
#include "gradcheck.h"

#include <math.h>
#include <unistd.h>

static const char *shipped = "models/fmnist_cnn.onnx";

static int sanitized(void) { return getenv("GIBBON_TEST_SANITIZED") != NULL; }

/* ---- forward references --------------------------------------------------- */

/* JPEG by the textbook formula F(u,v) = 1/4 C(u) C(v) sum f cos cos. */
static void jpeg_reference(float *y, const float *x, int H, int W, int quality) {
    float q[64];
    gb_jpeg_table(quality, q);
    const double pi = acos(-1.0);
    for (int by = 0; by < H; by += 8)
        for (int bx = 0; bx < W; bx += 8) {
            double f[8][8], F[8][8];
            for (int i = 0; i < 8; i++)
                for (int j = 0; j < 8; j++)
                    f[i][j] = 255.0 * x[GB_MIN(by + i, H - 1) * W + GB_MIN(bx + j, W - 1)] - 128;
            for (int u = 0; u < 8; u++)
                for (int v = 0; v < 8; v++) {
                    double s = 0;
                    for (int i = 0; i < 8; i++)
                        for (int j = 0; j < 8; j++)
                            s += f[i][j] * cos((2 * i + 1) * u * pi / 16) * cos((2 * j + 1) * v * pi / 16);
                    s *= 0.25 * (u ? 1 : sqrt(0.5)) * (v ? 1 : sqrt(0.5));
                    F[u][v] = q[u * 8 + v] * round(s / q[u * 8 + v]);
                }
            for (int i = 0; i < 8 && by + i < H; i++)
                for (int j = 0; j < 8 && bx + j < W; j++) {
                    double s = 0;
                    for (int u = 0; u < 8; u++)
                        for (int v = 0; v < 8; v++)
                            s += (u ? 1 : sqrt(0.5)) * (v ? 1 : sqrt(0.5)) * F[u][v] *
                                 cos((2 * i + 1) * u * pi / 16) * cos((2 * j + 1) * v * pi / 16);
                    s = round(0.25 * s + 128);
                    y[(by + i) * W + bx + j] = (float)(fmin(fmax(s, 0), 255) / 255);
                }
        }
}

static void test_jpeg_forward(void) {
    float q[64];
    gb_jpeg_table(50, q); /* quality 50 is the table itself */
    CHECK(q[0] == 16 && q[1] == 11 && q[63] == 99);
    gb_jpeg_table(75, q); /* scale 50%: (16*50 + 50) / 100 = 8 */
    CHECK(q[0] == 8 && q[63] == 50);
    gb_jpeg_table(100, q);
    CHECK(q[0] == 1 && q[63] == 1);
    gb_rng r;
    gb_rng_seed(&r, 5, 1);
    enum { H = 13, W = 20 }; /* not multiples of 8: edge blocks replicate */
    float x[H * W], y[H * W], ref[H * W];
    for (int i = 0; i < H * W; i++) x[i] = gb_rng_uniform(&r);
    int qualities[3] = {10, 75, 95};
    for (int k = 0; k < 3; k++) {
        gb_jpeg_table(qualities[k], q);
        gb_jpeg_plane(y, x, H, W, q);
        jpeg_reference(ref, x, H, W, qualities[k]);
        int off = 0;
        double err = 0, maxd = 0;
        for (int i = 0; i < H * W; i++) {
            off += fabsf(y[i] - ref[i]) > 0.5f / 255; /* a rounding tie may fall either way */
            err += fabs(y[i] - x[i]);
            maxd = fmax(maxd, fabs(y[i] - ref[i]));
        }
        CHECKF(off <= 2 && maxd <= 1.01 / 255, "quality %d: %d pixels differ from the reference (max %g)",
               qualities[k], off, maxd);
        /* Noise compresses badly: low quality moves pixels far, high quality little. */
        if (k == 0) CHECK(err / (H * W) > 0.1);
        if (k == 2) CHECK(err / (H * W) < 0.05);
    }
}

/* Against real JPEG: Pillow's libjpeg encodes and decodes the same images
 * (tests/reference/jpeg_pil.py). libjpeg computes the DCT in integers and
 * rounds in its own places, so levels may differ slightly, rarely by more.
 * Skipped without /usr/bin/python3 with numpy and Pillow. */
static void test_jpeg_vs_libjpeg(void) {
    if (system("/usr/bin/python3 -c 'import numpy, PIL' >/dev/null 2>&1") != 0) {
        printf("     (skipped: /usr/bin/python3 with numpy and Pillow not available)\n");
        return;
    }
    gb_dataset *ds = NULL;
    CHECK_OK(gb_dataset_load("fashion-mnist:test:32", &ds));
    if (!ds) return;
    char dir[] = "/tmp/gibbon_jpeg_XXXXXX", in[80], out[80], cmd[400];
    if (!mkdtemp(dir)) {
        CHECK(0);
        gb_dataset_free(ds);
        return;
    }
    snprintf(in, sizeof in, "%s/in.npy", dir);
    CHECK_OK(gb_npy_write(in, ds->images));
    int qualities[3] = {25, 75, 95};
    for (int k = 0; k < 3; k++) {
        snprintf(out, sizeof out, "%s/pil%d.npy", dir, qualities[k]);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/reference/jpeg_pil.py %s %s %d", in, out, qualities[k]);
        CHECKF(system(cmd) == 0, "%s", cmd);
        gb_tensor *ref = NULL, *y = gb_tensor_new(0, NULL), *other = gb_tensor_new(0, NULL);
        gb_defense d = {GB_DEFENSE_JPEG, (float)qualities[k], 0}, d2 = d;
        d2.param = (float)(qualities[k] - 15); /* a neighbouring quality, to see that the check can tell */
        CHECK_OK(gb_npy_read(out, &ref));
        CHECK_OK(gb_defense_apply(&d, ds->images, y, NULL));
        CHECK_OK(gb_defense_apply(&d2, ds->images, other, NULL));
        if (ref && ref->size == y->size) {
            double mean = 0, mean2 = 0, far = 0;
            for (int64_t i = 0; i < y->size; i++) {
                double e = fabs(y->data[i] - ref->data[i]) * 255;
                mean += e / (double)y->size;
                mean2 += fabs(other->data[i] - ref->data[i]) * 255 / (double)y->size;
                far += e > 2.5;
            }
            printf("  jpeg:%d vs libjpeg: mean |diff| %.3f levels (jpeg:%d: %.3f), %.2f%% of pixels off by > 2 "
                   "levels\n", qualities[k], mean, qualities[k] - 15, mean2, 100 * far / (double)y->size);
            CHECKF(mean < 0.5 && mean < 0.5 * mean2 && far < 0.05 * (double)y->size,
                   "jpeg:%d: mean diff %g (neighbour %g), %g pixels far", qualities[k], mean, mean2, far);
        } else {
            CHECK(0);
        }
        remove(out);
        gb_tensor_free(ref);
        gb_tensor_free(y);
        gb_tensor_free(other);
    }
    remove(in);
    rmdir(dir);
    gb_dataset_free(ds);
}

static void test_bits_forward(void) {
    float x[200], y[200];
    gb_rng r;
    gb_rng_seed(&r, 6, 1);
    for (int i = 0; i < 200; i++) x[i] = 1.2f * gb_rng_uniform(&r) - 0.1f;
    for (int bits = 1; bits <= 8; bits++) {
        gb_bits_apply(y, x, 200, bits);
        const float L = (float)((1 << bits) - 1);
        int bad = 0;
        for (int i = 0; i < 200; i++) {
            float c = fminf(fmaxf(x[i], 0), 1), level = y[i] * L;
            bad += fabsf(level - nearbyintf(level)) > 1e-4f || fabsf(y[i] - c) > 0.5f / L + 1e-6f;
        }
        CHECKF(bad == 0, "bits %d: %d values off the grid or not the nearest level", bits, bad);
    }
}

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void test_median_forward(void) {
    gb_rng r;
    gb_rng_seed(&r, 7, 1);
    enum { H = 7, W = 9 };
    float x[H * W], y[H * W], arg[H * W];
    for (int i = 0; i < H * W; i++) x[i] = gb_rng_uniform(&r);
    for (int k = 2; k <= 5; k++) {
        gb_median_plane(y, arg, x, H, W, k);
        int bad = 0;
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                float v[25];
                int c = 0;
                for (int a = -(k / 2); a <= k - 1 - k / 2; a++)
                    for (int b = -(k / 2); b <= k - 1 - k / 2; b++) {
                        int ii = i + a, jj = j + b;
                        ii = ii < 0 ? -ii - 1 : ii >= H ? 2 * H - ii - 1 : ii; /* reflect */
                        jj = jj < 0 ? -jj - 1 : jj >= W ? 2 * W - jj - 1 : jj;
                        v[c++] = x[ii * W + jj];
                    }
                qsort(v, (size_t)c, sizeof *v, cmp_f);
                bad += y[i * W + j] != v[c / 2] || x[(int)arg[i * W + j]] != y[i * W + j];
            }
        CHECKF(bad == 0, "median %d: %d pixels differ from the brute-force median", k, bad);
    }
    /* A hand case: 3x3 median removes a single bright pixel. */
    float img[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0}, out[9];
    gb_median_plane(out, NULL, img, 3, 3, 3);
    CHECK(out[4] == 0);
}

static void test_resize_pad_forward(void) {
    gb_rng r;
    gb_rng_seed(&r, 8, 1);
    enum { H = 10, W = 12 };
    float x[H * W], y[H * W];
    for (int i = 0; i < H * W; i++) x[i] = gb_rng_uniform(&r);
    gb_rp_draw same = {H, W, 0, 0};
    gb_resize_pad_plane(y, x, H, W, same);
    CHECK(memcmp(x, y, sizeof x) == 0); /* scale 1: the identity */
    /* Halving a 2x2-constant image gives the constants back, zero around them. */
    float big[8 * 8], small[8 * 8];
    for (int i = 0; i < 64; i++) big[i] = (float)((i / 8) / 2 * 4 + (i % 8) / 2) / 16;
    gb_rp_draw half = {4, 4, 1, 3};
    gb_resize_pad_plane(small, big, 8, 8, half);
    int bad = 0;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            int in = i >= 1 && i < 5 && j >= 3 && j < 7;
            float want = in ? (float)((i - 1) * 4 + (j - 3)) / 16 : 0;
            bad += fabsf(small[i * 8 + j] - want) > 1e-6f;
        }
    CHECK(bad == 0);
    for (int t = 0; t < 200; t++) {
        gb_rp_draw d = gb_resize_pad_draw(&r, 0.5f, H, W);
        bad += d.rh < 5 || d.rh > H || d.rw < 6 || d.rw > W || d.top < 0 || d.top + d.rh > H || d.left < 0 ||
               d.left + d.rw > W;
    }
    CHECK(bad == 0);
}

/* ---- backward --------------------------------------------------------------- */

static gc_case one_op(const char *op, gb_rng *r, int64_t n, int64_t c, int64_t h, int64_t w) {
    int64_t xs[4] = {n, c, h, w};
    return gc_single_op(op, 4, xs, 0, NULL, NULL, r);
}

static void test_gradcheck(void) {
    gb_rng r;
    gb_rng_seed(&r, 9, 1);
    for (int k = 2; k <= 3; k++) {
        gc_case c = one_op("GibbonMedian", &r, 2, 2, 6, 7);
        CHECK_OK(gb_node_add_int(c.node, "size", k));
        if (gc_finalize(&c)) {
            CHECK(0);
        } else {
            gc_opts o = gc_default_opts();
            o.h = 1e-4; /* keep off ties: distinct values are > 1e-4 apart almost surely */
            o.kink_aware = 1;
            CHECK(gradcheck_model(c.m, c.x, &o, k == 2 ? "median 2" : "median 3") == 0);
        }
        gc_free(&c);
    }
    gc_case c = one_op("GibbonResizePad", &r, 3, 2, 9, 8);
    CHECK_OK(gb_node_add_float(c.node, "ratio", 0.6f));
    if (!gc_finalize(&c)) {
        gc_opts o = gc_default_opts(); /* the model rng is reseeded per forward: one draw */
        CHECK(gradcheck_model(c.m, c.x, &o, "resize-pad") == 0);
    } else {
        CHECK(0);
    }
    gc_free(&c);
}

/* The quantizers: zero gradient honestly, the identity with bpda. */
static void test_bpda_backward(void) {
    const char *ops[2] = {"GibbonJpeg", "GibbonBitDepth"};
    gb_rng r;
    gb_rng_seed(&r, 10, 1);
    for (int k = 0; k < 2; k++)
        for (int bpda = 0; bpda < 2; bpda++) {
            gc_case c = one_op(ops[k], &r, 2, 1, 9, 9);
            CHECK_OK(gb_node_add_int(c.node, "bpda", bpda));
            if (gc_finalize(&c)) {
                CHECK(0);
                continue;
            }
            const gb_tensor *y, *dx;
            CHECK_OK(gb_model_forward(c.m, c.x, &y));
            gb_tensor *R = gb_tensor_new(y->ndim, y->shape);
            gc_fill_uniform(R, &r, -1, 1);
            CHECK_OK(gb_model_backward(c.m, R, GB_GRAD_INPUT, &dx));
            int bad = 0;
            for (int64_t i = 0; i < R->size; i++) bad += dx->data[i] != (bpda ? R->data[i] : 0.0f);
            CHECKF(bad == 0, "%s bpda=%d: %d gradient entries wrong", ops[k], bpda, bad);
            gb_tensor_free(R);
            gc_free(&c);
        }
}

/* ---- the defenses on a real model ---------------------------------------------- */

static void test_parse_and_add(void) {
    gb_defense d;
    CHECK_OK(gb_defense_parse("jpeg:75", &d));
    CHECK(d.kind == GB_DEFENSE_JPEG && d.param == 75 && !d.bpda);
    CHECK_OK(gb_defense_parse("resize-pad", &d));
    CHECK(d.kind == GB_DEFENSE_RESIZE_PAD && fabsf(d.param - 0.9f) < 1e-6f);
    CHECK(gb_defense_parse("jpeg:0", &d) == GB_ERR_ARG);
    CHECK(gb_defense_parse("bits:2.5", &d) == GB_ERR_ARG);
    CHECK(gb_defense_parse("median:9", &d) == GB_ERR_ARG);
    CHECK(gb_defense_parse("resize-pad:1.5", &d) == GB_ERR_ARG);
    CHECK(gb_defense_parse("blur:3", &d) == GB_ERR_ARG && strstr(gb_last_error(), "unknown defense"));
    CHECK(gb_defense_parse("bits:x", &d) == GB_ERR_ARG);

    /* A defended model computes model(defense(x)). */
    gb_model *m = NULL;
    gb_dataset *ds = NULL;
    CHECK_OK(gb_model_load_onnx(shipped, &m));
    CHECK_OK(gb_dataset_load("fashion-mnist:test:16", &ds));
    if (!m || !ds) goto out;
    gb_tensor *t = gb_tensor_new4(16, 1, 28, 28), *want = NULL;
    const gb_tensor *z;
    CHECK_OK(gb_defense_parse("median:3", &d));
    CHECK_OK(gb_defense_apply(&d, ds->images, t, NULL));
    CHECK_OK(gb_model_forward(m, t, &z));
    want = gb_tensor_clone(z);
    CHECK_OK(gb_model_add_defense(m, &d));
    CHECK_OK(gb_model_forward(m, ds->images, &z));
    int same = want && z->size == want->size && memcmp(z->data, want->data, (size_t)z->size * 4) == 0;
    CHECK(same);
    /* Saving writes the model without its defense (a load-time choice). */
    char path[] = "/tmp/gibbon_defended_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    gb_model *back = NULL, *plain = NULL;
    CHECK_OK(gb_model_save_onnx(m, path));
    CHECK_OK(gb_model_load_onnx(path, &back));
    CHECK_OK(gb_model_load_onnx(shipped, &plain));
    if (back && plain) {
        const gb_tensor *z1, *z2;
        CHECK_OK(gb_model_forward(back, ds->images, &z1));
        gb_tensor *c1 = gb_tensor_clone(z1);
        CHECK_OK(gb_model_forward(plain, ds->images, &z2));
        CHECK(c1 && c1->size == z2->size && memcmp(c1->data, z2->data, (size_t)z2->size * 4) == 0);
        gb_tensor_free(c1);
    }
    remove(path);
    gb_model_free(back);
    gb_model_free(plain);
    gb_tensor_free(t);
    gb_tensor_free(want);
out:
    gb_model_free(m);
    gb_dataset_free(ds);
}

/* EOT: the averaged gradient is the mean of the passes it stands for. */
static void test_eot_average(void) {
    gb_model *m = NULL;
    gb_dataset *ds = NULL;
    CHECK_OK(gb_model_load_onnx(shipped, &m));
    CHECK_OK(gb_dataset_load("fashion-mnist:test:8", &ds));
    if (!m || !ds) goto out;
    gb_defense d;
    CHECK_OK(gb_defense_parse("resize-pad:0.8", &d));
    CHECK_OK(gb_model_add_defense(m, &d));
    gb_attack_result r;
    memset(&r, 0, sizeof r);
    CHECK_OK(gb_attack_result_alloc(&r, ds->images));
    gb_atk_work w;
    CHECK_OK(gb_atk_init(&w, m, ds->images, ds->labels, NULL, &r));
    const int64_t nD = w.n * w.D, E = 4;
    float *mean = calloc((size_t)nD, sizeof(float));
    gb_model_set_seed(m, 3);
    for (int e = 0; e < E; e++) {
        CHECK_OK(gb_atk_eval(&w, GB_LOSS_CE, 0, 1));
        for (int64_t k = 0; k < nD; k++) mean[k] += w.grad[k] / E;
    }
    /* The single passes differ: the defense is random per forward. */
    gb_model_set_seed(m, 3);
    w.eot = (int)E;
    CHECK_OK(gb_atk_eval(&w, GB_LOSS_CE, 0, 1));
    double err = 0, norm = 0;
    for (int64_t k = 0; k < nD; k++) {
        err = fmax(err, fabs(w.grad[k] - mean[k]));
        norm = fmax(norm, fabs(mean[k]));
    }
    CHECKF(err <= 1e-5 * norm + 1e-9, "EOT gradient differs from the mean of 4 passes by %g (max %g)", err, norm);
    CHECK(r.grad_evals == 2 * E * w.n);
    free(mean);
    gb_atk_free(&w);
    gb_attack_result_free(&r);
out:
    gb_model_free(m);
    gb_dataset_free(ds);
}

/* Robust accuracy of PGD at eps 0.1 against the shipped model with the
 * defense spec (NULL: none). */
static float robust(const gb_dataset *ds, const char *spec, int bpda, int eot, float *clean) {
    gb_model *m = NULL;
    if (gb_model_load_onnx(shipped, &m)) return -1;
    if (spec) {
        gb_defense d;
        if (gb_defense_parse(spec, &d)) return -1;
        d.bpda = bpda;
        if (gb_model_add_defense(m, &d)) return -1;
    }
    gb_model_set_seed(m, 1);
    gb_attack a = gb_attack_default_params(GB_ATTACK_PGD);
    a.eps = 0.1f;
    a.steps = 10;
    a.eot_samples = eot;
    gb_attack_result r;
    float acc = -1;
    if (gb_attack_run(&a, m, ds->images, ds->labels, NULL, &r) == GB_OK) {
        int64_t ok = 0, ok0 = 0;
        for (int64_t i = 0; i < r.n; i++) {
            ok += r.adv_pred[i] == ds->labels[i];
            ok0 += r.clean_pred[i] == ds->labels[i];
        }
        acc = (float)ok / (float)r.n;
        *clean = (float)ok0 / (float)r.n;
        gb_attack_result_free(&r);
    }
    gb_model_free(m);
    return acc;
}

static void test_adaptive_evaluation(void) {
    gb_dataset *ds = NULL;
    CHECK_OK(gb_dataset_load(sanitized() ? "fashion-mnist:test:24" : "fashion-mnist:test:100", &ds));
    if (!ds) return;
    float c0, c;
    float none = robust(ds, NULL, 0, 0, &c0);
    printf("  PGD-10 eps 0.1, n=%lld: undefended clean %.2f robust %.2f\n", (long long)ds->n, c0, none);
    CHECK(none >= 0 && none <= 0.15f);
    const char *specs[2] = {"bits:4", "jpeg:75"};
    for (int k = 0; k < 2; k++) {
        float masked = robust(ds, specs[k], 0, 0, &c);
        float broken = robust(ds, specs[k], 1, 0, &c);
        printf("  %s: clean %.2f, robust %.2f with its true (zero) gradient, %.2f with BPDA\n", specs[k], c,
               masked, broken);
        /* Gradient masking: the zero gradient leaves only PGD's random start. */
        CHECKF(masked >= c - 0.25f, "%s: masked robust %.2f vs clean %.2f", specs[k], masked, c);
        CHECKF(broken <= none + 0.15f, "%s: BPDA robust %.2f vs undefended %.2f", specs[k], broken, none);
    }
    if (!sanitized()) {
        float single = robust(ds, "resize-pad:0.8", 0, 0, &c);
        float eot = robust(ds, "resize-pad:0.8", 0, 5, &c);
        printf("  resize-pad:0.8: clean %.2f, robust %.2f without EOT, %.2f with EOT-5\n", c, single, eot);
        CHECK(eot <= none + 0.2f && eot <= single + 0.05f);
    }
    gb_dataset_free(ds);
}

/* ---- feature squeezing ----------------------------------------------------------- */

static void test_squeeze_threshold(void) {
    float s[10] = {0.5f, 0.1f, 0.9f, 0.3f, 0.7f, 0.2f, 0.8f, 0.4f, 0.6f, 0.0f};
    float t = gb_squeeze_threshold(s, 10, 0.2);
    int above = 0;
    for (int i = 0; i < 10; i++) above += s[i] > t;
    CHECK(above == 2 && t == 0.7f);
    CHECK(gb_squeeze_threshold(s, 10, 0.0) == 0.9f);
}

static void test_squeeze_detects(void) {
    gb_model *m = NULL;
    gb_dataset *ds = NULL;
    CHECK_OK(gb_model_load_onnx(shipped, &m));
    CHECK_OK(gb_dataset_load(sanitized() ? "fashion-mnist:test:40" : "fashion-mnist:test:200", &ds));
    if (!m || !ds) goto out;
    gb_defense sq[2];
    CHECK_OK(gb_defense_parse("bits:1", &sq[0]));
    CHECK_OK(gb_defense_parse("median:2", &sq[1]));
    int64_t N = ds->n;
    float *clean = malloc((size_t)N * sizeof(float)), *adv = malloc((size_t)N * sizeof(float));
    CHECK_OK(gb_squeeze_scores(m, ds->images, sq, 2, clean));
    gb_attack a = gb_attack_default_params(GB_ATTACK_FGSM);
    a.eps = 0.05f;
    gb_attack_result r;
    CHECK_OK(gb_attack_run(&a, m, ds->images, ds->labels, NULL, &r));
    CHECK_OK(gb_squeeze_scores(m, r.x_adv, sq, 2, adv));
    int bad = 0;
    for (int64_t i = 0; i < N; i++) bad += !(clean[i] >= 0 && clean[i] <= 2 && adv[i] >= 0 && adv[i] <= 2);
    CHECK(bad == 0);
    double auc;
    CHECK_OK(gb_auroc(adv, N, clean, N, &auc));
    printf("  feature squeezing, FGSM eps 0.05, n=%lld: AUROC %.3f\n", (long long)N, auc);
    CHECK(auc > 0.6); /* adversarial inputs move more under squeezing than clean ones */
    gb_attack_result_free(&r);
    free(clean);
    free(adv);
out:
    gb_model_free(m);
    gb_dataset_free(ds);
}

/* ---- statistics --------------------------------------------------------------------- */

/* P(Bin(n, p) >= k) by summing the pmf in log space: independent of the
 * incomplete beta function. */
static double binom_upper(int64_t k, int64_t n, double p) {
    double s = 0;
    for (int64_t i = k; i <= n; i++)
        s += exp(lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) + i * log(p) + (n - i) * log1p(-p));
    return s;
}

static void test_beta_and_binomial(void) {
    int64_t ks[6] = {1, 3, 50, 97, 100, 990}, ns[6] = {1, 10, 100, 100, 100, 1000};
    double ps[3] = {0.1, 0.5, 0.93};
    double worst = 0;
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 3; b++) {
            double want = binom_upper(ks[a], ns[a], ps[b]);
            double got = gb_beta_inc((double)ks[a], (double)(ns[a] - ks[a] + 1), ps[b]);
            worst = fmax(worst, fabs(got - want) / fmax(want, 1e-300) * (want > 1e-280));
        }
    CHECKF(worst < 1e-9, "I_p(k, n-k+1) vs binomial sums: relative error %g", worst);
    /* Clopper-Pearson: the binomial tail at the bound is exactly alpha. */
    int64_t cn[4][2] = {{990, 1000}, {100, 100}, {5, 20}, {99950, 100000}};
    for (int i = 0; i < 4; i++) {
        double lo = gb_clopper_pearson_lower(cn[i][0], cn[i][1], 0.001);
        double tail = cn[i][1] <= 1000 ? binom_upper(cn[i][0], cn[i][1], lo) : 0.001;
        CHECKF(fabs(tail - 0.001) < 1e-9 && lo < (double)cn[i][0] / cn[i][1], "CP(%lld/%lld) = %.12g, tail %g",
               (long long)cn[i][0], (long long)cn[i][1], lo, tail);
    }
    /* k = n has the closed form alpha^(1/n). */
    CHECK(fabs(gb_clopper_pearson_lower(100, 100, 0.001) - pow(0.001, 0.01)) < 1e-12);
    CHECK(gb_clopper_pearson_lower(0, 100, 0.001) == 0);
    /* Binomial test at 1/2 against the exact two-sided sum. */
    int64_t bt[4][2] = {{60, 100}, {40, 100}, {50, 100}, {9, 10}};
    for (int i = 0; i < 4; i++) {
        int64_t k = bt[i][0], n = bt[i][1], hi = GB_MAX(k, n - k);
        double want = 2 * hi == n ? 1 : fmin(1, 2 * binom_upper(hi, n, 0.5));
        CHECKF(fabs(gb_binom_test_half(k, n) - want) < 1e-12, "binom test %lld/%lld", (long long)k, (long long)n);
    }
}

static void test_normal_quantile(void) {
    /* Table values (Abramowitz & Stegun 26.2) and the round trip through erfc. */
    CHECK(fabs(gb_normal_quantile(0.975) - 1.959963984540054) < 1e-12);
    CHECK(fabs(gb_normal_quantile(0.5)) < 1e-15);
    CHECK(fabs(gb_normal_quantile(0.001) + 3.090232306167814) < 1e-12);
    CHECK(fabs(gb_normal_quantile(0.8413447460685429) - 1.0) < 1e-12);
    double worst = 0;
    for (double p = 1e-12; p < 1; p = p < 0.01 ? p * 10 : p + 0.0731) {
        double z = gb_normal_quantile(p);
        worst = fmax(worst, fabs(gb_normal_cdf(z) - p) / fmin(p, 1 - p));
    }
    CHECKF(worst < 1e-12, "Phi(Phi^-1(p)) relative error %g", worst);
}

/* ---- certification on a linear classifier ---------------------------------------- */

/* logits = (0, w.x + b): class 1 iff w.x + b > 0; the smoothed classifier is
 * the same classifier, with p_A = Phi(|w.x + b| / (sigma ||w||)), so the
 * certified radius tends to the distance |w.x + b| / ||w|| to the boundary. */
static gb_model *linear_model(const float *w, float b, int D) {
    gb_model *m = gb_model_alloc();
    int64_t xs[4] = {-1, 1, 1, D};
    m->in_ndim = 4;
    memcpy(m->in_shape, xs, sizeof xs);
    int x = gb_model_add_value(m, "x", GB_VAL_INPUT, NULL);
    int64_t ws[2] = {2, D}, bs[1] = {2};
    gb_tensor *W = gb_tensor_new(2, ws), *B = gb_tensor_new(1, bs);
    for (int k = 0; k < D; k++) W->data[D + k] = w[k];
    B->data[1] = b;
    int wi = gb_model_add_value(m, "W", GB_VAL_PARAM, W), bi = gb_model_add_value(m, "B", GB_VAL_PARAM, B);
    gb_tensor_free(W);
    gb_tensor_free(B);
    int f = gb_model_add_value(m, "f", GB_VAL_ACT, NULL), z = gb_model_add_value(m, "z", GB_VAL_ACT, NULL);
    gb_model_add_node(m, "Flatten", "flat", &x, 1, &f, 1);
    int in[3] = {f, wi, bi};
    int ni = gb_model_add_node(m, "Gemm", "gemm", in, 3, &z, 1);
    gb_node_add_int(&m->nodes[ni], "transB", 1);
    m->output = z;
    if (gb_model_finalize(m)) {
        fprintf(stderr, "linear model: %s\n", gb_last_error());
        gb_model_free(m);
        return NULL;
    }
    return m;
}

static void test_certify_linear(void) {
    const int D = 4;
    const float w[4] = {1.0f, -2.0f, 0.5f, 2.0f}, b = -0.3f;
    gb_model *m = linear_model(w, b, D);
    CHECK(m != NULL);
    if (!m) return;
    const int N = 3;
    gb_tensor *x = gb_tensor_new4(N, 1, 1, D);
    float pts[3][4] = {{0.9f, 0.1f, 0.2f, 0.3f}, {0.1f, 0.6f, 0.5f, 0.2f}, {0.5f, 0.5f, 0.5f, 0.5f}};
    memcpy(x->data, pts, sizeof pts);
    double wn = 0;
    for (int k = 0; k < D; k++) wn += (double)w[k] * w[k];
    wn = sqrt(wn);
    gb_smooth_params p = gb_smooth_default_params();
    p.sigma = 0.5f;
    p.n = sanitized() ? 20000 : 100000;
    p.batch = 1000;
    int pred[3], pp[3];
    double radius[3], pa[3];
    CHECK_OK(gb_smooth_certify(m, x, &p, pred, radius, pa));
    CHECK_OK(gb_smooth_predict(m, x, &p, pp));
    for (int i = 0; i < N; i++) {
        double s = b;
        for (int k = 0; k < D; k++) s += w[k] * pts[i][k];
        double dist = fabs(s) / wn, pa_true = gb_normal_cdf(dist / p.sigma);
        printf("  linear point %d: distance %.4f, certified %.4f (class %d), p_A lower %.5f (true %.5f)\n", i,
               dist, radius[i], pred[i], pa[i], pa_true);
        if (pa_true > 0.6) {
            CHECK(pred[i] == (s > 0) && pp[i] == (s > 0));
            /* Sound (below the truth, up to the 0.1% failure probability) and tight. */
            CHECKF(radius[i] <= dist + 1e-9 && radius[i] >= dist - 0.06 * p.sigma, "radius %g vs %g", radius[i], dist);
            CHECK(pa[i] <= pa_true && pa[i] >= pa_true - 0.02);
        }
    }
    /* Soundness: PGD-L2 within each certified radius leaves the smoothed
     * prediction alone (for this model the best attack walks straight to
     * the boundary, which PGD finds). */
    for (int i = 0; i < N; i++) {
        if (pred[i] < 0) continue;
        gb_tensor xi = *x;
        xi.shape[0] = 1, xi.size = D, xi.data = x->data + i * D, xi.cap = 0;
        gb_attack a = gb_attack_default_params(GB_ATTACK_PGD);
        a.norm = GB_NORM_L2;
        a.eps = (float)radius[i];
        a.steps = 50;
        a.clip_min = -10, a.clip_max = 10; /* the smoothed classifier is defined off [0,1] too */
        gb_attack_result r;
        int yi = pred[i], after = -2;
        CHECK_OK(gb_attack_run(&a, m, &xi, &yi, NULL, &r));
        if (r.x_adv) {
            double moved = 0;
            for (int k = 0; k < D; k++) moved += pow(r.x_adv->data[k] - pts[i][k], 2);
            gb_smooth_params q = p;
            q.seed = 77;
            CHECK_OK(gb_smooth_predict(m, r.x_adv, &q, &after));
            double margin = b;
            for (int k = 0; k < D; k++) margin += w[k] * r.x_adv->data[k];
            printf("  PGD-L2 within radius %.4f: moved %.4f, boundary %.4f away, smoothed %d -> %d\n", radius[i],
                   sqrt(moved), fabs(margin) / wn, yi, after);
            /* Abstaining is allowed (p_A can fall near 1/2 at the edge); the other class is not. */
            CHECKF((after == yi || after == -1) && (margin > 0) == (yi == 1) && sqrt(moved) <= radius[i] + 1e-5,
                   "point %d: moved %g within radius %g, smoothed %d -> %d", i, sqrt(moved), radius[i], yi, after);
            gb_attack_result_free(&r);
        }
    }
    /* On the boundary p_A = 1/2: CERTIFY and PREDICT abstain. */
    float onb[4] = {0.3f, 0, 0, 0}; /* w.x + b = 0 */
    memcpy(x->data, onb, sizeof onb);
    x->shape[0] = 1;
    x->size = D;
    CHECK_OK(gb_smooth_certify(m, x, &p, pred, radius, pa));
    CHECK(pred[0] == -1 && radius[0] == 0);
    CHECK_OK(gb_smooth_predict(m, x, &p, pp));
    CHECK(pp[0] == -1);
    gb_smooth_params bad = p;
    bad.sigma = 0;
    CHECK(gb_smooth_certify(m, x, &bad, pred, radius, pa) == GB_ERR_ARG);
    bad = p;
    bad.alpha = 1;
    CHECK(gb_smooth_predict(m, x, &bad, pp) == GB_ERR_ARG);
    gb_tensor_free(x);
    gb_model_free(m);
}

int main(void) {
    RUN(test_jpeg_forward);
    RUN(test_jpeg_vs_libjpeg);
    RUN(test_bits_forward);
    RUN(test_median_forward);
    RUN(test_resize_pad_forward);
    RUN(test_gradcheck);
    RUN(test_bpda_backward);
    RUN(test_parse_and_add);
    RUN(test_eot_average);
    RUN(test_adaptive_evaluation);
    RUN(test_squeeze_threshold);
    RUN(test_squeeze_detects);
    RUN(test_beta_and_binomial);
    RUN(test_normal_quantile);
    RUN(test_certify_linear);
    CHECK_DONE();
}
