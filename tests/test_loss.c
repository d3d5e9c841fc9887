/* test_loss.c — softmax cross-entropy at temperature T: value against the
 * closed form on a tiny example (double), gradient against the closed form
 * and against finite differences (hard labels, soft targets, T = 1 and 5),
 * finiteness with logits of 1e4, and argument validation. */
#include "check.h"

/* Mean over rows of -sum_k t_k log softmax(z / T)_k, straight from the
 * definition in double (log p = z/T - log sum e^(z/T), no max shift: the
 * tiny examples do not need it). */
static double closed_form(const double *z, const double *t, int N, int K, double T) {
    double total = 0;
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += exp(z[n * K + k] / T);
        for (int k = 0; k < K; k++) total -= t[n * K + k] * (z[n * K + k] / T - log(s));
    }
    return total / N;
}

static void test_closed_form(void) {
    const double z[6] = {1, 2, 3, 0.5, -1, 2};
    const int labels[2] = {2, 0};
    const double onehot[6] = {0, 0, 1, 1, 0, 0};
    const double soft[6] = {0.2, 0.3, 0.5, 0.6, 0.1, 0.3};
    int64_t s[2] = {2, 3};
    gb_tensor *zt = gb_tensor_new(2, s), *st = gb_tensor_new(2, s), *g = gb_tensor_new(2, s);
    for (int i = 0; i < 6; i++) zt->data[i] = (float)z[i], st->data[i] = (float)soft[i];
    /* By hand for T = 1, hard labels:
     * row 0: log(e + e^2 + e^3) - 3 = log(1 + e^-1 + e^-2)
     * row 1: log(e^0.5 + e^-1 + e^2) - 0.5 */
    double by_hand = (log(1 + exp(-1) + exp(-2)) + log(exp(0.5) + exp(-1) + exp(2)) - 0.5) / 2;
    CHECK(fabs(closed_form(z, onehot, 2, 3, 1) - by_hand) < 1e-12);
    const double temps[3] = {1, 2, 5};
    for (int ti = 0; ti < 3; ti++) {
        double T = temps[ti];
        float L;
        CHECK_OK(gb_loss_cross_entropy(zt, labels, NULL, (float)T, &L, g));
        double want = closed_form(z, onehot, 2, 3, T);
        CHECKF(fabs(L - want) < 1e-6 * (1 + want), "hard T=%g: %.9g vs %.9g", T, L, want);
        /* gradient: (softmax(z/T) - onehot) / (T N) */
        for (int n = 0; n < 2; n++) {
            double sum = 0;
            for (int k = 0; k < 3; k++) sum += exp(z[n * 3 + k] / T);
            for (int k = 0; k < 3; k++) {
                double p = exp(z[n * 3 + k] / T) / sum, gw = (p - onehot[n * 3 + k]) / (T * 2);
                CHECKF(fabs(g->data[n * 3 + k] - gw) < 1e-6, "hard T=%g grad", T);
            }
        }
        CHECK_OK(gb_loss_cross_entropy(zt, NULL, st, (float)T, &L, g));
        want = closed_form(z, soft, 2, 3, T);
        CHECKF(fabs(L - want) < 1e-6 * (1 + want), "soft T=%g: %.9g vs %.9g", T, L, want);
    }
    gb_tensor_free(zt);
    gb_tensor_free(st);
    gb_tensor_free(g);
}

/* Central differences of the returned loss against dlogits. */
static int fd_check(gb_tensor *z, const int *labels, const gb_tensor *soft, float T) {
    gb_tensor *g = gb_tensor_new(z->ndim, z->shape);
    float L;
    if (gb_loss_cross_entropy(z, labels, soft, T, &L, g) != GB_OK) return 1;
    int bad = 0;
    const double h = 1e-2;
    for (int64_t i = 0; i < z->size; i++) {
        float saved = z->data[i], lp, lm;
        z->data[i] = (float)(saved + h);
        gb_loss_cross_entropy(z, labels, soft, T, &lp, NULL);
        z->data[i] = (float)(saved - h);
        gb_loss_cross_entropy(z, labels, soft, T, &lm, NULL);
        double step = (double)(float)(saved + h) - (double)(float)(saved - h);
        z->data[i] = saved;
        double num = ((double)lp - lm) / step;
        if (!(fabs(g->data[i] - num) <= 1e-4 + 1e-2 * fabs(num))) {
            fprintf(stderr, "  T=%g element %lld: analytic %.6g numeric %.6g\n", (double)T,
                    (long long)i, g->data[i], num);
            bad++;
        }
    }
    gb_tensor_free(g);
    return bad;
}

static void test_finite_differences(void) {
    gb_rng r;
    gb_rng_seed(&r, 41, 1);
    int64_t s[2] = {4, 5};
    gb_tensor *z = gb_tensor_new(2, s), *soft = gb_tensor_new(2, s), *loose = gb_tensor_new(2, s);
    for (int64_t i = 0; i < z->size; i++) z->data[i] = 6 * gb_rng_uniform(&r) - 3;
    for (int n = 0; n < 4; n++) {
        double sum = 0;
        for (int k = 0; k < 5; k++) sum += soft->data[n * 5 + k] = gb_rng_uniform(&r) + 0.05f;
        for (int k = 0; k < 5; k++) {
            soft->data[n * 5 + k] /= (float)sum;
            loose->data[n * 5 + k] = 0.7f * soft->data[n * 5 + k]; /* rows summing to 0.7 */
        }
    }
    const int labels[4] = {0, 4, 2, 2};
    const float temps[2] = {1, 5};
    for (int ti = 0; ti < 2; ti++) {
        CHECKF(fd_check(z, labels, NULL, temps[ti]) == 0, "hard T=%g", (double)temps[ti]);
        CHECKF(fd_check(z, NULL, soft, temps[ti]) == 0, "soft T=%g", (double)temps[ti]);
        CHECKF(fd_check(z, NULL, loose, temps[ti]) == 0, "unnormalized T=%g", (double)temps[ti]);
    }
    gb_tensor_free(z);
    gb_tensor_free(soft);
    gb_tensor_free(loose);
}

static void test_huge_logits(void) {
    int64_t s[2] = {2, 3};
    gb_tensor *z = gb_tensor_new(2, s), *soft = gb_tensor_new(2, s), *g = gb_tensor_new(2, s);
    const float zv[6] = {1e4f, -1e4f, 0, -1e4f, -1e4f, 1e4f};
    memcpy(z->data, zv, sizeof zv);
    for (int i = 0; i < 6; i++) soft->data[i] = 1.0f / 3;
    const int labels[2] = {1, 2}; /* row 0 is confidently wrong, row 1 confidently right */
    const float temps[2] = {1, 5};
    for (int ti = 0; ti < 2; ti++) {
        float L;
        CHECK_OK(gb_loss_cross_entropy(z, labels, NULL, temps[ti], &L, g));
        /* row 0: 2e4/T, row 1: ~0 */
        CHECKF(isfinite(L) && fabs(L - 1e4 / temps[ti]) < 1e-2 * 1e4 / temps[ti], "L = %g", L);
        int finite = 1;
        for (int i = 0; i < 6; i++) finite &= isfinite(g->data[i]);
        CHECK(finite);
        CHECK_OK(gb_loss_cross_entropy(z, NULL, soft, temps[ti], &L, g));
        CHECK(isfinite(L));
    }
    gb_tensor_free(z);
    gb_tensor_free(soft);
    gb_tensor_free(g);
}

static void expect_arg_error(gb_status s, const char *fragment) {
    CHECKF(s == GB_ERR_ARG, "status %s", gb_status_name(s));
    CHECKF(strstr(gb_last_error(), fragment) != NULL, "message '%s' lacks '%s'", gb_last_error(),
           fragment);
}

static void test_bad_arguments(void) {
    int64_t s[2] = {2, 3}, s3[2] = {2, 4}, s1[1] = {3};
    gb_tensor *z = gb_tensor_new(2, s), *soft3 = gb_tensor_new(2, s3), *z1 = gb_tensor_new(1, s1);
    gb_tensor *soft = gb_tensor_new(2, s);
    float L = 0;
    expect_arg_error(gb_loss_cross_entropy(z, (int[]){0, 3}, NULL, 1, &L, NULL), "label 3");
    expect_arg_error(gb_loss_cross_entropy(z, (int[]){-1, 0}, NULL, 1, &L, NULL), "label -1");
    expect_arg_error(gb_loss_cross_entropy(z, NULL, soft3, 1, &L, NULL), "do not match");
    expect_arg_error(gb_loss_cross_entropy(z, (int[]){0, 1}, NULL, 0, &L, NULL), "temperature");
    expect_arg_error(gb_loss_cross_entropy(z, (int[]){0, 1}, NULL, -2, &L, NULL), "temperature");
    expect_arg_error(gb_loss_cross_entropy(z, (int[]){0, 1}, NULL, NAN, &L, NULL), "temperature");
    expect_arg_error(gb_loss_cross_entropy(z, NULL, NULL, 1, &L, NULL), "exactly one");
    expect_arg_error(gb_loss_cross_entropy(z, (int[]){0, 1}, soft, 1, &L, NULL), "exactly one");
    expect_arg_error(gb_loss_cross_entropy(z1, (int[]){0}, NULL, 1, &L, NULL), "(N, K)");
    /* A borrowed gradient view of the wrong shape is refused... */
    float buf[8];
    gb_tensor view = {.ndim = 2, .shape = {2, 4}, .size = 8, .cap = 0, .data = buf};
    expect_arg_error(gb_loss_cross_entropy(z, (int[]){0, 1}, NULL, 1, &L, &view), "gradient");
    /* ...an empty tensor is sized to the logits. */
    gb_tensor empty = {0};
    CHECK_OK(gb_loss_cross_entropy(z, (int[]){0, 1}, NULL, 1, &L, &empty));
    CHECK(gb_tensor_same_shape(&empty, z));
    gb_tensor_release(&empty);
    /* Neither output requested is fine. */
    CHECK_OK(gb_loss_cross_entropy(z, (int[]){0, 1}, NULL, 1, NULL, NULL));
    gb_tensor_free(z);
    gb_tensor_free(z1);
    gb_tensor_free(soft);
    gb_tensor_free(soft3);
}

int main(void) {
    RUN(test_closed_form);
    RUN(test_finite_differences);
    RUN(test_huge_logits);
    RUN(test_bad_arguments);
    CHECK_DONE();
}
