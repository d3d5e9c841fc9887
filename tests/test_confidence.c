/* test_confidence.c — calibration and OOD detection on constructed cases
 * with known answers: ECE, AUROC (separable = 1, random ~ 0.5, ties = 0.5),
 * temperature scaling recovering the T that generated the labels, energy
 * and max-softmax scores, the reliability diagram file; the greyscale signs
 * OOD set: BT.601 luma of pure colours, area resampling against block means,
 * hand-computed fractional weights and the closed-form integral of a ramp. */
#include <unistd.h>

#include "check.h"

static void test_ece_known(void) {
    /* 10 at confidence 0.9 with 6 right (gap 0.3), 10 at 0.55 all right (gap 0.45). */
    float conf[20];
    int ok[20];
    for (int i = 0; i < 10; i++) conf[i] = 0.9f, ok[i] = i < 6;
    for (int i = 10; i < 20; i++) conf[i] = 0.55f, ok[i] = 1;
    double ece;
    gb_calibration_bin bins[15];
    CHECK_OK(gb_calibration_ece(conf, ok, 20, 15, &ece, bins));
    CHECKF(fabs(ece - 0.375) < 1e-6, "ECE %g, want 0.375", ece);
    CHECK(bins[13].count == 10 && fabs(bins[13].accuracy - 0.6) < 1e-9); /* (13/15, 14/15] holds 0.9 */
    CHECK(bins[8].count == 10 && fabs(bins[8].confidence - 0.55) < 1e-6);
    /* Perfectly confident and right: 0; bin edges (k/M, (k+1)/M]. */
    float one[3] = {1, 1, 1};
    int right[3] = {1, 1, 1};
    CHECK_OK(gb_calibration_ece(one, right, 3, 15, &ece, bins));
    CHECK(ece < 1e-7 && bins[14].count == 3);
    CHECK(gb_calibration_ece(one, right, 0, 15, &ece, NULL) == GB_ERR_ARG);
    char dir[] = "/tmp/gibbon_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/rel.svg", dir);
    CHECK_OK(gb_calibration_ece(conf, ok, 20, 15, &ece, bins));
    CHECK_OK(gb_reliability_svg(path, bins, 15, ece, "test"));
    FILE *f = fopen(path, "r");
    char buf[4096] = {0};
    CHECK(f && fread(buf, 1, sizeof buf - 1, f) > 0);
    if (f) fclose(f);
    CHECK(strstr(buf, "<svg") && strstr(buf, "ECE 0.3750"));
    unlink(path);
    rmdir(dir);
}

static void test_auroc(void) {
    enum { N = 2000 };
    static float a[N], b[N];
    for (int i = 0; i < 100; i++) a[i] = (float)(i + 1), b[i] = -(float)(i + 1);
    double r;
    CHECK_OK(gb_auroc(a, 100, b, 100, &r));
    CHECK(r == 1.0);
    CHECK_OK(gb_auroc(b, 100, a, 100, &r));
    CHECK(r == 0.0);
    for (int i = 0; i < 10; i++) a[i] = b[i] = 3;
    CHECK_OK(gb_auroc(a, 10, b, 10, &r));
    CHECK(r == 0.5);
    gb_rng g;
    gb_rng_seed(&g, 5, 1);
    for (int i = 0; i < N; i++) a[i] = gb_rng_uniform(&g), b[i] = gb_rng_uniform(&g);
    CHECK_OK(gb_auroc(a, N, b, N, &r));
    CHECKF(fabs(r - 0.5) < 0.03, "random AUROC %g", r);
    CHECK(gb_auroc(a, 0, b, N, &r) == GB_ERR_ARG);
}

/* Labels drawn from softmax(z / 2.5): the fitted temperature is 2.5. */
static void test_temperature_recovered(void) {
    const int64_t N = 20000, K = 5;
    const double T0 = 2.5;
    gb_tensor *z = gb_tensor_new(2, (int64_t[]){N, K});
    int *y = malloc((size_t)N * sizeof(int));
    gb_rng g;
    gb_rng_seed(&g, 7, 1);
    for (int64_t n = 0; n < N; n++) {
        double p[5], s = 0;
        for (int64_t k = 0; k < K; k++) {
            z->data[n * K + k] = 3 * gb_rng_normal(&g);
            s += p[k] = exp(z->data[n * K + k] / T0);
        }
        double u = gb_rng_uniform(&g) * s;
        int k = 0;
        while (k < K - 1 && (u -= p[k]) > 0) k++;
        y[n] = k;
    }
    float T;
    CHECK_OK(gb_temperature_fit(z, y, &T));
    CHECKF(fabs(T - T0) < 0.1, "fitted T %g, want %g", (double)T, T0);
    /* Scaling by the fitted T calibrates: ECE drops. */
    float *conf = malloc((size_t)N * sizeof(float));
    int *pred = malloc((size_t)N * sizeof(int)), *ok = malloc((size_t)N * sizeof(int));
    double e1, eT;
    gb_softmax_confidence(z, 1, conf, pred);
    for (int64_t n = 0; n < N; n++) ok[n] = pred[n] == y[n];
    CHECK_OK(gb_calibration_ece(conf, ok, N, 15, &e1, NULL));
    gb_softmax_confidence(z, T, conf, NULL);
    CHECK_OK(gb_calibration_ece(conf, ok, N, 15, &eT, NULL));
    CHECKF(eT < 0.02 && e1 > 3 * eT, "ECE %g at T = 1, %g at the fitted T", e1, eT);
    y[0] = 9;
    CHECK(gb_temperature_fit(z, y, &T) == GB_ERR_ARG);
    free(conf);
    free(pred);
    free(ok);
    free(y);
    gb_tensor_free(z);
}

static void test_scores(void) {
    gb_tensor *z = gb_tensor_new(2, (int64_t[]){2, 2});
    z->data[0] = 0, z->data[1] = 0, z->data[2] = 1000, z->data[3] = 0;
    float e[2], c[2];
    int p[2];
    gb_ood_energy(z, 1, e);
    CHECK(fabsf(e[0] - logf(2)) < 1e-6f && fabsf(e[1] - 1000) < 1e-3f);
    gb_softmax_confidence(z, 1, c, p);
    CHECK(fabsf(c[0] - 0.5f) < 1e-6f && c[1] == 1.0f && p[1] == 0);
    gb_tensor_free(z);
}

/* Pure colours keep their luma weights; same size: no resampling. */
static void test_grey_luma(void) {
    /* (3, 1, 5): red, green, blue, white, (0.2, 0.4, 0.6) */
    const float img[15] = {1, 0, 0, 1, 0.2f, 0, 1, 0, 1, 0.4f, 0, 0, 1, 1, 0.6f};
    const double want[5] = {0.299, 0.587, 0.114, 1.0, 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6};
    float out[5];
    CHECK_OK(gb_image_grey_resize(img, 3, 1, 5, out, 1, 5));
    for (int i = 0; i < 5; i++) CHECKF(fabs(out[i] - want[i]) < 1e-6, "luma %d: %g, want %g", i, out[i], want[i]);
    CHECK_OK(gb_image_grey_resize(img, 1, 3, 5, out, 1, 5)); /* one channel: only resampled */
    CHECK(gb_image_grey_resize(img, 2, 1, 5, out, 1, 5) == GB_ERR_ARG);
    CHECK(gb_image_grey_resize(img, 3, 1, 5, out, 0, 5) == GB_ERR_ARG);
}

/* floor(t) integrated from 0 to t: the ramp image x_p = p as a step function. */
static double ramp_integral(double t) {
    double f = floor(t);
    return f * (f - 1) / 2 + f * (t - f);
}

static void test_grey_area(void) {
    /* 4x4 -> 2x2 is the mean of each 2x2 block. */
    float a[16], o[4];
    for (int i = 0; i < 16; i++) a[i] = (float)((i * 7) % 5);
    CHECK_OK(gb_image_grey_resize(a, 1, 4, 4, o, 2, 2));
    for (int bi = 0; bi < 2; bi++)
        for (int bj = 0; bj < 2; bj++) {
            int k = 8 * bi + 2 * bj;
            double m = (a[k] + a[k + 1] + a[k + 4] + a[k + 5]) / 4.0;
            CHECKF(fabs(o[2 * bi + bj] - m) < 1e-6, "block %d,%d: %g, want %g", bi, bj, o[2 * bi + bj], m);
        }
    /* 3 -> 2: each output covers 1.5 pixels, the middle one half each. */
    const float r[3] = {1, 4, 10};
    float o2[2];
    CHECK_OK(gb_image_grey_resize(r, 1, 1, 3, o2, 1, 2));
    CHECK(fabs(o2[0] - (1 + 0.5 * 4) / 1.5) < 1e-6 && fabs(o2[1] - (0.5 * 4 + 10) / 1.5) < 1e-6);
    /* 48 -> 28 (the signs to Fashion-MNIST), along both axes: the ramp's mean
     * over each footprint, from its integral; and the image mean is kept. */
    enum { S = 48, D = 28 };
    static float ramp[S * S], out[D * D];
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) ramp[i * S + j] = (float)j;
    CHECK_OK(gb_image_grey_resize(ramp, 1, S, S, out, D, D));
    double worst = 0, mean = 0, s = (double)S / D;
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            double want = (ramp_integral((j + 1) * s) - ramp_integral(j * s)) / s;
            worst = fmax(worst, fabs(out[i * D + j] - want));
            mean += out[i * D + j];
        }
    CHECKF(worst < 1e-4, "48 -> 28 ramp off by %g", worst);
    CHECKF(fabs(mean / (D * D) - (S - 1) / 2.0) < 1e-4, "mean %g, want %g", mean / (D * D), (S - 1) / 2.0);
}

/* The greyscale signs are the colour signs converted; in [0, 1]; seeded. */
static void test_signs_grey(void) {
    gb_signs_params p = gb_signs_default_params();
    p.seed = 3;
    gb_tensor *t = NULL, *u = NULL;
    CHECK_OK(gb_signs_grey(&p, 4, 28, &t));
    if (!t) return;
    CHECK(t->ndim == 4 && t->shape[0] == 4 && t->shape[1] == 1 && t->shape[2] == 28 && t->shape[3] == 28);
    static float rgb[3 * GB_SIGNS_DEFAULT_SIZE * GB_SIGNS_DEFAULT_SIZE], g[28 * 28];
    CHECK_OK(gb_sign_render(&p, 2, rgb, NULL));
    CHECK_OK(gb_image_grey_resize(rgb, 3, p.size, p.size, g, 28, 28));
    CHECK(memcmp(g, t->data + 2 * 28 * 28, sizeof g) == 0);
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < t->size; i++) lo = fminf(lo, t->data[i]), hi = fmaxf(hi, t->data[i]);
    CHECKF(lo >= 0 && hi <= 1 && hi - lo > 0.3f, "range [%g, %g]", lo, hi);
    p.seed = 4;
    CHECK_OK(gb_signs_grey(&p, 1, 28, &u));
    CHECK(u && memcmp(u->data, t->data, 28 * 28 * sizeof(float)) != 0);
    p.size = 8;
    gb_tensor *bad = NULL;
    CHECK(gb_signs_grey(&p, 1, 28, &bad) == GB_ERR_ARG && !bad);
    gb_tensor_free(t);
    gb_tensor_free(u);
}

int main(void) {
    RUN(test_ece_known);
    RUN(test_auroc);
    RUN(test_temperature_recovered);
    RUN(test_scores);
    RUN(test_grey_luma);
    RUN(test_grey_area);
    RUN(test_signs_grey);
    CHECK_DONE();
}
