/* test_destruction.c — Kurakin et al. 2017's destruction rate (eq. 1): the
 * formula on hand-made flags, the two limits on real adversarial examples
 * (the identity destroys nothing, a transformation that restores the clean
 * image destroys everything), and the named transformations. */
#include "check.h"

#include <unistd.h>

#define MODEL "models/signs_cnn.onnx"

static void test_formula(void) {
    /* Examples 0, 1 and 4 are clean-correct and adversarial: the denominator. */
    int clean[6] = {1, 1, 1, 0, 1, 0}, adv[6] = {0, 0, 1, 0, 0, 1}, tf[6] = {1, 0, 1, 1, 0, 1};
    double d;
    int64_t n;
    gb_destruction_rate(clean, adv, tf, 6, &d, &n);
    CHECK(n == 3 && fabs(d - 1.0 / 3.0) < 1e-12);
    int none[6] = {1, 1, 1, 1, 1, 1};
    gb_destruction_rate(clean, none, tf, 6, &d, &n);
    CHECK(n == 0 && isnan(d));
}

static void test_limits(void) {
    if (access(MODEL, R_OK) != 0) {
        printf("skip: %s not found\n", MODEL);
        return;
    }
    gb_model *m = NULL;
    CHECK_OK(gb_model_load_onnx(MODEL, &m));
    gb_signs_params sp = gb_signs_default_params();
    sp.seed = 41;
    gb_dataset *d = NULL;
    CHECK_OK(gb_signs_generate(&sp, 100, &d));
    if (!m || !d) return;
    gb_attack a = gb_attack_default_params(GB_ATTACK_FGSM);
    a.eps = 0.05f;
    gb_attack_result r = {0};
    CHECK_OK(gb_attack_run(&a, m, d->images, d->labels, NULL, &r));
    int clean[100], adv[100], pc[100], pa[100];
    CHECK_OK(gb_predict_set(m, d->images, NULL, 100, pc));
    CHECK_OK(gb_predict_set(m, r.x_adv, NULL, 100, pa));
    for (int i = 0; i < 100; i++) clean[i] = pc[i] == d->labels[i], adv[i] = pa[i] == d->labels[i];
    double rate;
    int64_t n;
    /* Identity: T(X_adv) = X_adv. */
    gb_destruction_rate(clean, adv, adv, 100, &rate, &n);
    CHECKF(n > 10 && rate == 0.0, "n %lld rate %g", (long long)n, rate);
    /* T(X_adv) = X: every adversarial example is destroyed. */
    gb_destruction_rate(clean, adv, clean, 100, &rate, &n);
    CHECK(n > 10 && rate == 1.0);
    gb_attack_result_free(&r);
    gb_dataset_free(d);
    gb_model_free(m);
}

static void test_transforms(void) {
    gb_signs_params sp = gb_signs_default_params();
    gb_dataset *d = NULL;
    CHECK_OK(gb_signs_generate(&sp, 4, &d));
    if (!d) return;
    const char *names[5] = {"blur", "noise", "jpeg", "brightness", "photo"};
    gb_tensor a = {0}, b = {0};
    for (int t = 0; t < 5; t++) {
        CHECK_OK(gb_destruction_transform(names[t], d->images, 7, &a));
        CHECK_OK(gb_destruction_transform(names[t], d->images, 7, &b));
        CHECK(gb_tensor_same_shape(&a, d->images));
        CHECK(memcmp(a.data, b.data, (size_t)a.size * sizeof(float)) == 0);
        double diff = 0;
        for (int64_t i = 0; i < a.size; i++) {
            CHECK(a.data[i] >= 0 && a.data[i] <= 1);
            diff += fabs(a.data[i] - d->images->data[i]);
        }
        CHECKF(diff / (double)a.size > 1e-3, "%s leaves the images unchanged", names[t]);
    }
    /* Brightness +0.1 around contrast 0.85: y = 0.85 (x - 0.5) + 0.5 + 0.1 where unclipped. */
    CHECK_OK(gb_destruction_transform("brightness", d->images, 1, &a));
    int checked = 0;
    for (int64_t i = 0; i < a.size; i += 97) {
        float x = d->images->data[i], y = 0.85f * (x - 0.5f) + 0.6f;
        if (!(y > 0.01f && y < 0.99f)) continue;
        CHECKF(fabsf(a.data[i] - y) < 1e-4f, "x %g: %g want %g", x, a.data[i], y);
        checked++;
    }
    CHECK(checked > 100);
    /* Noise depends on the seed. */
    CHECK_OK(gb_destruction_transform("noise", d->images, 1, &a));
    CHECK_OK(gb_destruction_transform("noise", d->images, 2, &b));
    CHECK(memcmp(a.data, b.data, (size_t)a.size * sizeof(float)) != 0);
    CHECK(gb_destruction_transform("sharpen", d->images, 1, &a) == GB_ERR_ARG);
    CHECK(strstr(gb_last_error(), "sharpen") != NULL);
    gb_tensor_release(&a), gb_tensor_release(&b);
    gb_dataset_free(d);
}

int main(void) {
    RUN(test_formula);
    RUN(test_limits);
    RUN(test_transforms);
    CHECK_DONE();
}
