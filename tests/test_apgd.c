/* test_apgd.c — APGD against Croce & Hein 2020 (sec. 3.2, alg. 1) where the
 * answer is known in advance:
 *  - the step-size rule on constructed objective histories: condition 1
 *    counts rises over the window, the first one against f(x0), and halves
 *    when there are fewer than rho*k (strictly); condition 2 (no halving at
 *    the previous checkpoint and no new best) holds at the first checkpoint
 *    too, since eta^(w0) = eta^(w1); after a restart the next rise is
 *    counted against f_max, the restarted iterate's objective;
 *  - APGD-T (targeted, no targets given) on the shipped model: its first
 *    pass is the targeted run against the highest wrong clean logit (same
 *    seed, same trajectory: the same point comes back wherever neither
 *    run succeeded), success means any misclassification, a pass runs only
 *    on examples still unbroken (gradient evaluations per example are a
 *    multiple of steps + 1, at most n_target_classes of them);
 *  - examples the model already gets wrong are not attacked: no gradient
 *    evaluation, returned unchanged. */
#include "check.h"
#include "attacks/attacks.h"

static const char *shipped = "models/fmnist_cnn.onnx";

static void test_step_size_rule(void) {
    float h[100];
    gb_apgd_ckpt c;
    /* First window (k = 22, iterations 0..21): 16 rises among iterations
     * 1..21 and hist[0] below f(x0). 16 < 0.75*22 = 16.5: halve. Counting
     * hist[0] against 0 instead of f(x0) would make 17 and keep the step. */
    for (int i = 0; i < 22; i++) h[i] = (float)i + 1;
    for (int i = 17; i < 22; i++) h[i] = h[i - 1] - 0.5f; /* 5 falls: 16 rises among 1..21 */
    gb_apgd_ckpt_start(&c, 5.0f);
    CHECK(gb_apgd_ckpt_check(&c, h, 21, 22, 0.75f, 30.0f) == 1);
    /* The same window with hist[0] above f(x0): 17 rises, keep the step. */
    gb_apgd_ckpt_start(&c, 0.5f);
    CHECK(gb_apgd_ckpt_check(&c, h, 21, 22, 0.75f, 30.0f) == 0);
    /* k = 16 with exactly 12 = 0.75*16 rises: not fewer than rho*k, keep. */
    for (int i = 0; i < 100; i++) h[i] = (float)i;
    for (int i = 41; i < 45; i++) h[i] = h[i - 1] - 1; /* window 41..56: 4 falls, 12 rises */
    c.halved_last = 1;
    c.best_last = 0;
    CHECK(gb_apgd_ckpt_check(&c, h, 56, 16, 0.75f, 60.0f) == 0);
    CHECK(c.halved_last == 0 && c.best_last == 60.0f);
    /* Condition 2: not halved last time and no new best since: halve, even
     * though the objective rose in every step of the window. */
    CHECK(gb_apgd_ckpt_check(&c, h, 69, 13, 0.75f, 60.0f) == 1);
    /* The restart makes x_max the current iterate: the next window's first
     * rise is counted against f_max. */
    CHECK(h[69] == 60.0f);
    /* Halved last time: condition 2 is off, condition 1 alone decides:
     * 10 rises of 10 (the first, 70 > f_max = 60), keep the step; then a
     * window with 3 falls: 7 < 7.5 rises, halve. */
    CHECK(gb_apgd_ckpt_check(&c, h, 79, 10, 0.75f, 80.0f) == 0);
    CHECK(h[79] == 79.0f);
    for (int i = 80; i < 90; i++) h[i] = (float)i;
    h[80] = 50, h[81] = 49, h[82] = 48; /* below h[79]: 3 falls, then 7 rises */
    CHECK(gb_apgd_ckpt_check(&c, h, 89, 10, 0.75f, 89.0f) == 1);
    /* The first checkpoint: eta^(w0) = eta^(w1), so condition 2 applies: a
     * run that never beat f(x0) halves although it kept rising. */
    for (int i = 0; i < 22; i++) h[i] = (float)i;
    gb_apgd_ckpt_start(&c, 100.0f);
    CHECK(gb_apgd_ckpt_check(&c, h, 21, 22, 0.75f, 100.0f) == 1);
}

/* The first n test images the shipped model classifies correctly (right=1) or wrongly (right=0). */
static gb_tensor *pick(gb_model *m, const gb_dataset *d, int right, int n, int *y) {
    int64_t shape[4] = {n, 1, 28, 28};
    gb_tensor *x = gb_tensor_new(4, shape);
    int pred[256];
    float conf[256];
    int got = 0;
    for (int64_t start = 0; start + 256 <= d->n && got < n; start += 256) {
        gb_tensor b = *d->images;
        b.shape[0] = 256, b.size = 256 * 784, b.data = d->images->data + start * 784, b.cap = 0;
        if (gb_predict(m, &b, pred, conf)) break;
        for (int i = 0; i < 256 && got < n; i++)
            if ((pred[i] == d->labels[start + i]) == right) {
                memcpy(x->data + got * 784, b.data + i * 784, 784 * sizeof(float));
                y[got++] = d->labels[start + i];
            }
    }
    if (got < n) {
        gb_tensor_free(x);
        return NULL;
    }
    return x;
}

static void test_apgd_t(void) {
    gb_model *m;
    gb_dataset *d;
    if (gb_model_load_onnx(shipped, &m) != GB_OK) {
        printf("  SKIP: cannot load %s: %s\n", shipped, gb_last_error());
        return;
    }
    if (gb_dataset_load("fashion-mnist:test:1024", &d) != GB_OK) {
        printf("  SKIP: no Fashion-MNIST: %s\n", gb_last_error());
        gb_model_free(m);
        return;
    }
    const int sanitized = getenv("GIBBON_TEST_SANITIZED") != NULL, n = sanitized ? 6 : 24, steps = 10;
    int y[32], t[32], wrong_y[8];
    gb_tensor *x = pick(m, d, 1, n, y), *xw = pick(m, d, 0, 4, wrong_y);
    CHECK(x && xw);
    if (!x || !xw) goto out;
    /* The targets APGD-T's first pass must use: the highest clean logit other than y. */
    const gb_tensor *z;
    CHECK_OK(gb_model_forward(m, x, &z));
    for (int i = 0; i < n; i++) {
        int best = -1;
        for (int k = 0; k < 10; k++)
            if (k != y[i] && (best < 0 || z->data[i * 10 + k] > z->data[i * 10 + best])) best = k;
        t[i] = best;
    }
    gb_attack a = gb_attack_default_params(GB_ATTACK_APGD);
    a.loss = GB_LOSS_DLR, a.steps = steps, a.eps = 0.03f, a.targeted = 1, a.seed = 7;
    a.n_target_classes = 1;
    gb_attack_result top, exp;
    CHECK_OK(gb_attack_run(&a, m, x, y, NULL, &top));
    CHECK_OK(gb_attack_run(&a, m, x, y, t, &exp));
    int same = 0, neither = 0, won_top = 0, won_exp = 0;
    for (int i = 0; i < n; i++) {
        /* APGD-T succeeds on every example the explicit run took to its target. */
        CHECK(!exp.success[i] || top.success[i]);
        CHECK(top.success[i] == (top.adv_pred[i] != y[i]));
        CHECK(top.evals[i] == steps + 1 && exp.evals[i] == steps + 1);
        won_top += top.success[i];
        won_exp += exp.success[i];
        if (!top.success[i] && !exp.success[i]) {
            neither++;
            same += memcmp(top.x_adv->data + i * 784, exp.x_adv->data + i * 784, 784 * sizeof(float)) == 0;
        }
    }
    printf("  APGD-T 1 target vs explicit top-1 targets, %d images eps 0.03: success %d vs %d, "
           "%d/%d unbroken identical\n", n, won_top, won_exp, same, neither);
    CHECK(same == neither);
    gb_attack_result_free(&top);
    gb_attack_result_free(&exp);

    /* Three targets: a pass only on the still unbroken, never more than three. */
    a.n_target_classes = 3;
    CHECK_OK(gb_attack_run(&a, m, x, y, NULL, &top));
    for (int i = 0; i < n; i++) {
        CHECK(top.evals[i] % (steps + 1) == 0 && top.evals[i] >= steps + 1 && top.evals[i] <= 3 * (steps + 1));
        if (!top.success[i]) CHECK(top.evals[i] == 3 * (steps + 1));
        CHECK(top.linf[i] <= a.eps);
    }
    gb_attack_result_free(&top);
    /* APGD-T needs at least one target class. */
    a.n_target_classes = 0;
    CHECK(gb_attack_run(&a, m, x, y, NULL, &top) == GB_ERR_ARG);

    /* Misclassified clean: not attacked, unchanged, counted as broken. */
    a = gb_attack_default_params(GB_ATTACK_APGD);
    a.steps = steps;
    CHECK_OK(gb_attack_run(&a, m, xw, wrong_y, NULL, &top));
    for (int i = 0; i < 4; i++) {
        CHECK(top.evals[i] == 0 && top.success[i] == 1);
        CHECK(memcmp(top.x_adv->data + i * 784, xw->data + i * 784, 784 * sizeof(float)) == 0);
    }
    gb_attack_result_free(&top);
out:
    gb_tensor_free(x);
    gb_tensor_free(xw);
    gb_dataset_free(d);
    gb_model_free(m);
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_step_size_rule);
    RUN(test_apgd_t);
    CHECK_DONE();
}
