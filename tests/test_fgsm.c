/* test_fgsm.c — FGSM is exactly eps * sign(grad_x loss) before clipping; the
 * input gradient agrees with finite differences; targeted FGSM moves towards
 * the target; and on the shipped model FGSM at eps = 0.1 drops accuracy far
 * below the clean accuracy. */
#include "check.h"
#include "gradcheck.h"

static const char *shipped = "models/fmnist_cnn.onnx";

static void test_fgsm_exact(void) {
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("conv8-fc16", 1, 12, 12, 10, 2, &m));
    gb_tensor *x = gb_tensor_new4(6, 1, 12, 12);
    gb_rng r;
    gb_rng_seed(&r, 4, 4);
    gc_fill_uniform(x, &r, 0.2f, 0.8f);
    int y[6] = {0, 1, 2, 3, 4, 5};
    gb_tensor *g = gb_tensor_new(x->ndim, x->shape);
    CHECK_OK(gb_input_gradient(m, x, y, g, NULL));
    gb_attack a = gb_attack_default_params(GB_ATTACK_FGSM);
    a.eps = 0.05f;
    a.clip_min = -10; /* no clipping: the step itself is visible */
    a.clip_max = 10;
    gb_attack_result res;
    CHECK_OK(gb_attack_run(&a, m, x, y, NULL, &res));
    int exact = 1, nonzero = 0;
    for (int64_t i = 0; i < x->size; i++) {
        float sg = (g->data[i] > 0) - (g->data[i] < 0);
        nonzero += sg != 0;
        exact &= res.x_adv->data[i] == x->data[i] + 0.05f * sg;
    }
    CHECK(exact);
    CHECK(nonzero > x->size / 2);
    for (int64_t b = 0; b < 6; b++) CHECK(fabsf(res.linf[b] - 0.05f) < 1e-6f);
    gb_attack_result_free(&res);

    /* With [0,1] clipping every pixel stays in range. */
    a.clip_min = 0, a.clip_max = 1, a.eps = 0.5f;
    CHECK_OK(gb_attack_run(&a, m, x, y, NULL, &res));
    int inside = 1;
    for (int64_t i = 0; i < x->size; i++) inside &= res.x_adv->data[i] >= 0 && res.x_adv->data[i] <= 1;
    CHECK(inside);
    gb_attack_result_free(&res);
    gb_tensor_free(g);
    gb_tensor_free(x);
    gb_model_free(m);
}

/* The input gradient (summed loss) against central differences of the loss. */
static void test_input_gradient_fd(void) {
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("conv4-fc8", 1, 8, 8, 3, 5, &m));
    gb_tensor *x = gb_tensor_new4(3, 1, 8, 8);
    gb_rng r;
    gb_rng_seed(&r, 6, 6);
    gc_fill_uniform(x, &r, 0, 1);
    int y[3] = {0, 1, 2};
    gb_tensor *g = gb_tensor_new(x->ndim, x->shape);
    float loss;
    CHECK_OK(gb_input_gradient(m, x, y, g, &loss));
    int bad = 0;
    const float h = 1e-2f;
    for (int64_t i = 0; i < x->size; i += 7) {
        float saved = x->data[i], lp, lm;
        x->data[i] = saved + h;
        gb_tensor *tp = gb_tensor_new(x->ndim, x->shape);
        gb_input_gradient(m, x, y, tp, &lp);
        gb_tensor_free(tp);
        x->data[i] = saved - h;
        gb_tensor *tmp = gb_tensor_new(x->ndim, x->shape);
        gb_input_gradient(m, x, y, tmp, &lm);
        gb_tensor_free(tmp);
        x->data[i] = saved;
        double num = (lp - lm) / (2.0 * h) * 3; /* mean loss -> summed loss */
        if (fabs(num - g->data[i]) > 2e-3 + 5e-2 * fabs(num)) bad++;
    }
    CHECKF(bad <= 1, "%d input-gradient entries disagree with finite differences", bad);
    gb_tensor_free(g);
    gb_tensor_free(x);
    gb_model_free(m);
}

static void test_shipped_model(void) {
    gb_model *m;
    gb_status s = gb_model_load_onnx(shipped, &m);
    CHECKF(s == GB_OK, "%s", gb_last_error());
    if (s) return;
    gb_dataset *d;
    s = gb_dataset_load("fashion-mnist:test:1000", &d);
    CHECKF(s == GB_OK, "%s", gb_last_error());
    if (s) {
        gb_model_free(m);
        return;
    }
    float clean;
    CHECK_OK(gb_evaluate(m, d, 250, &clean, NULL));
    CHECKF(clean >= 0.90f, "clean accuracy %.3f on the first 1000 test images", clean);
    gb_attack a = gb_attack_default_params(GB_ATTACK_FGSM);
    a.eps = 0.1f;
    gb_attack_result r;
    CHECK_OK(gb_attack_run(&a, m, d->images, d->labels, NULL, &r));
    int64_t robust = 0;
    for (int64_t i = 0; i < d->n; i++) robust += r.adv_pred[i] == d->labels[i];
    float racc = (float)robust / d->n;
    printf("shipped model: clean %.3f, FGSM eps 0.1 robust %.3f\n", clean, racc);
    CHECKF(racc < 0.5f * clean && racc < 0.35f, "robust accuracy %.3f vs clean %.3f", racc, clean);
    gb_attack_result_free(&r);

    /* Targeted: the target's probability rises on average. */
    int *t = malloc((size_t)d->n * sizeof(int));
    for (int64_t i = 0; i < d->n; i++) t[i] = (d->labels[i] + 1) % 10;
    a.targeted = 1;
    a.eps = 0.1f;
    CHECK_OK(gb_attack_run(&a, m, d->images, d->labels, t, &r));
    int64_t hit = 0;
    for (int64_t i = 0; i < d->n; i++) hit += r.adv_pred[i] == t[i];
    CHECKF(hit > d->n / 20, "targeted FGSM reached the target on only %lld of %lld", (long long)hit,
           (long long)d->n);
    gb_attack_result_free(&r);
    free(t);
    gb_dataset_free(d);
    gb_model_free(m);
}

static void test_bad_attack_args(void) {
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("fc4", 1, 4, 4, 3, 1, &m));
    gb_tensor *x = gb_tensor_new4(2, 1, 4, 4);
    int y[2] = {0, 7};
    gb_attack a = gb_attack_default_params(GB_ATTACK_FGSM);
    gb_attack_result r;
    CHECK(gb_attack_run(&a, m, x, y, NULL, &r) == GB_ERR_ARG);
    y[1] = 1;
    a.eps = -1;
    CHECK(gb_attack_run(&a, m, x, y, NULL, &r) == GB_ERR_ARG);
    gb_attack_kind k;
    CHECK(gb_attack_parse("nope", &k) == GB_ERR_ARG);
    CHECK(gb_attack_parse("fgsm", &k) == GB_OK && k == GB_ATTACK_FGSM);
    gb_tensor_free(x);
    gb_model_free(m);
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_fgsm_exact);
    RUN(test_input_gradient_fd);
    RUN(test_shipped_model);
    RUN(test_bad_attack_args);
    CHECK_DONE();
}
