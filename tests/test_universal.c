/* test_universal.c — universal adversarial perturbations: the projection
 * onto the L-inf and L2 balls is exact, the fitted delta respects its
 * budget, and on held-out images (SGD) or on its own set (DeepFool, few
 * images for time) it fools models/signs_cnn.onnx far more often than a
 * random perturbation of the same norm. */
#include "check.h"

#include <unistd.h>

#define MODEL "models/signs_cnn.onnx"

static int sanitized(void) { return getenv("GIBBON_TEST_SANITIZED") != NULL; }

static void test_project(void) {
    enum { D = 1000 };
    static float v[D], w[D];
    gb_rng r;
    gb_rng_seed(&r, 5, 1);
    for (int i = 0; i < D; i++) v[i] = 0.3f * gb_rng_normal(&r);
    memcpy(w, v, sizeof v);
    const float eps = 0.1f;
    gb_uap_project(GB_NORM_LINF, v, D, eps);
    float mx = 0;
    for (int i = 0; i < D; i++) {
        mx = fmaxf(mx, fabsf(v[i]));
        /* Clamping: inside values stay, outside ones land exactly on the bound. */
        CHECK(fabsf(w[i]) <= eps ? v[i] == w[i] : fabsf(v[i]) == eps);
    }
    CHECK(mx == eps);
    memcpy(v, w, sizeof v);
    gb_uap_project(GB_NORM_L2, v, D, 2.0f);
    double n2 = 0, dot = 0, w2 = 0;
    for (int i = 0; i < D; i++) n2 += (double)v[i] * v[i], dot += (double)v[i] * w[i], w2 += (double)w[i] * w[i];
    CHECKF(fabs(sqrt(n2) - 2.0) < 1e-5, "l2 %g", sqrt(n2));
    CHECK(fabs(dot / (sqrt(n2) * sqrt(w2)) - 1) < 1e-6); /* same direction */
    memcpy(v, w, sizeof v);
    gb_uap_project(GB_NORM_L2, v, D, 100.0f); /* inside: unchanged */
    CHECK(memcmp(v, w, sizeof v) == 0);
    gb_uap_random(GB_NORM_LINF, eps, D, &r, v);
    int plus = 0;
    for (int i = 0; i < D; i++) {
        CHECK(fabsf(v[i]) == eps);
        plus += v[i] > 0;
    }
    CHECK(plus > 400 && plus < 600);
    gb_uap_random(GB_NORM_L2, 3.0f, D, &r, v);
    n2 = 0;
    for (int i = 0; i < D; i++) n2 += (double)v[i] * v[i];
    CHECK(fabs(sqrt(n2) - 3.0) < 1e-5);
}

static gb_dataset *signs(uint64_t seed, int n) {
    gb_signs_params p = gb_signs_default_params();
    p.seed = seed;
    gb_dataset *d = NULL;
    CHECK_OK(gb_signs_generate(&p, n, &d));
    return d;
}

/* Fits a UAP with method/norm/eps on `fit` and compares its held-out
 * fooling rate with a random perturbation of the same norm. */
static void fit_and_compare(gb_model *m, gb_uap_method method, gb_norm norm, float eps, int passes,
                            const gb_dataset *fit, const gb_dataset *held, double margin) {
    if (!held) held = fit; /* compare on the fitting set itself */
    gb_uap_params p = gb_uap_default_params();
    p.method = method, p.norm = norm, p.eps = eps, p.max_passes = passes, p.target_rate = 1.0f;
    p.batch = method == GB_UAP_SGD ? 20 : 1; /* SGD: ten steps a pass on 200 images */
    gb_tensor *v = NULL;
    gb_uap_info info;
    CHECK_OK(gb_uap_fit(m, fit->images, &p, &v, &info));
    if (!v) return;
    int64_t D = v->size;
    CHECK(v->ndim == 4 && v->shape[0] == 1 && D == fit->images->size / fit->n);
    double mx = 0, n2 = 0;
    for (int64_t i = 0; i < D; i++) mx = fmax(mx, fabs(v->data[i])), n2 += (double)v->data[i] * v->data[i];
    if (norm == GB_NORM_LINF) CHECKF(mx <= eps, "linf %.9g > eps %.9g", mx, (double)eps);
    else CHECKF(sqrt(n2) <= eps * (1 + 1e-6), "l2 %.9g > eps %.9g", sqrt(n2), (double)eps);
    double fool = 0, rnd = 0;
    CHECK_OK(gb_uap_fooling_rate(m, held->images, v->data, NULL, 100, &fool, NULL));
    float *r = malloc((size_t)D * sizeof *r);
    gb_rng rng;
    gb_rng_seed(&rng, 3, 3);
    gb_uap_random(norm, eps, D, &rng, r);
    CHECK_OK(gb_uap_fooling_rate(m, held->images, r, NULL, 100, &rnd, NULL));
    printf("  %s %s eps %g: fooling rate %s %.1f%% (fit %.1f%%, %d passes), random %.1f%%\n",
           method == GB_UAP_SGD ? "sgd" : "deepfool", norm == GB_NORM_LINF ? "linf" : "l2", (double)eps,
           held == fit ? "fit" : "held-out", 100 * fool, 100 * info.fooling_rate, info.passes, 100 * rnd);
    CHECKF(fool >= rnd + margin && fool >= 3 * rnd, "universal %.3f vs random %.3f", fool, rnd);
    free(r);
    gb_tensor_free(v);
}

static void test_fit(void) {
    if (access(MODEL, R_OK) != 0) {
        printf("skip: %s not found\n", MODEL);
        return;
    }
    gb_model *m = NULL;
    CHECK_OK(gb_model_load_onnx(MODEL, &m));
    int small = sanitized();
    gb_dataset *fit = signs(31, 200), *held = signs(32, small ? 100 : 150);
    if (!m || !fit || !held) return;
    /* The sign model shrugs off small universal budgets (8/255: < 1% fooled,
     * the set varies pose and lighting a lot); at 0.15 one delta fools most. */
    fit_and_compare(m, GB_UAP_SGD, GB_NORM_LINF, 0.15f, 3, fit, held, 0.4);
    fit_and_compare(m, GB_UAP_SGD, GB_NORM_L2, 8.0f, 3, fit, held, 0.3);
    /* DeepFool takes up to 10 x 10 backward passes an image, so it gets
     * 40 images here, too few to generalize (the README's held-out numbers
     * come from 100 images and 2 passes): it is compared on its own set. */
    gb_dataset *fit_df = signs(33, 40);
    if (fit_df) fit_and_compare(m, GB_UAP_DEEPFOOL, GB_NORM_LINF, 0.15f, 1, fit_df, NULL, 0.1);
    gb_dataset_free(fit_df);
    /* Bad parameters. */
    gb_uap_params p = gb_uap_default_params();
    gb_tensor *v = NULL;
    p.eps = 0;
    CHECK(gb_uap_fit(m, fit->images, &p, &v, NULL) == GB_ERR_ARG && !v);
    p = gb_uap_default_params();
    p.norm = GB_NORM_L1;
    CHECK(gb_uap_fit(m, fit->images, &p, &v, NULL) == GB_ERR_ARG);
    p = gb_uap_default_params();
    p.target_rate = 1.5f;
    CHECK(gb_uap_fit(m, fit->images, &p, &v, NULL) == GB_ERR_ARG);
    gb_dataset_free(fit), gb_dataset_free(held);
    gb_model_free(m);
}

int main(void) {
    RUN(test_project);
    RUN(test_fit);
    CHECK_DONE();
}
