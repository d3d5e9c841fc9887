/* test_confidence.c — calibration and OOD detection on constructed cases
 * with known answers: ECE, AUROC (separable = 1, random ~ 0.5, ties = 0.5),
 * temperature scaling recovering the T that generated the labels, energy
 * and max-softmax scores, the reliability diagram file. */
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

int main(void) {
    RUN(test_ece_known);
    RUN(test_auroc);
    RUN(test_temperature_recovered);
    RUN(test_scores);
    CHECK_DONE();
}
