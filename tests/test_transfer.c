/* test_transfer.c — the pieces of transferability with answers known in
 * advance: an ensemble's logits are the mean of its members' and its input
 * gradient the mean of theirs (two identical members: the very same bits as
 * one); members that disagree on input shape or classes are refused; DI's
 * resize-and-pad is linear, reproduces affine images exactly and its
 * backward is its transpose (<T x, r> = <x, T^T r>); DI with probability 0
 * (or one that never fires) gives plain PGD bit for bit; TI's kernel sums to
 * 1 and is symmetric, and its separable smoothing equals a direct 2-D
 * convolution with zero padding; a transfer cell counts what the attack's
 * own result says when source and target are the same model. */
#include "check.h"
#include "gradcheck.h"
#include "attacks/attacks.h"

static gb_model *zoo(const char *arch, int c, int h, int w, int K, uint64_t seed) {
    gb_model *m = NULL;
    CHECK_OK(gb_model_from_zoo(arch, c, h, w, K, seed, &m));
    return m;
}

/* Logits (copied) and the input gradient of sum(logits * R) for x. */
static void logits_and_grad(gb_model *m, const gb_tensor *x, const gb_tensor *R, float *z, float *g) {
    const gb_tensor *lz, *dx;
    CHECK_OK(gb_model_forward(m, x, &lz));
    memcpy(z, lz->data, (size_t)lz->size * sizeof(float));
    CHECK_OK(gb_model_backward(m, R, GB_GRAD_INPUT, &dx));
    memcpy(g, dx->data, (size_t)dx->size * sizeof(float));
}

static void test_ensemble(void) {
    gb_rng r;
    gb_rng_seed(&r, 7, 1);
    gb_model *a = zoo("conv4-fc16", 1, 8, 8, 5, 1), *b = zoo("fc12", 1, 8, 8, 5, 2);
    if (!a || !b) return;
    const int64_t N = 3, D = 64, K = 5;
    gb_tensor *x = gb_tensor_new4(N, 1, 8, 8);
    int64_t zs[2] = {N, K};
    gb_tensor *R = gb_tensor_new(2, zs);
    gc_fill_uniform(x, &r, 0, 1);
    gc_fill_uniform(R, &r, -1, 1);
    float za[15], zb[15], ze[15], ga[192], gb[192], ge[192];
    logits_and_grad(a, x, R, za, ga);
    logits_and_grad(b, x, R, zb, gb);
    gb_model *two[2] = {a, b}, *e = NULL;
    CHECK_OK(gb_model_ensemble(two, 2, &e));
    if (e) {
        CHECK(gb_model_num_classes(e) == K);
        logits_and_grad(e, x, R, ze, ge);
        double dz = 0, dg = 0;
        for (int i = 0; i < N * K; i++) dz = fmax(dz, fabs(ze[i] - 0.5 * ((double)za[i] + zb[i])));
        for (int i = 0; i < N * D; i++) dg = fmax(dg, fabs(ge[i] - 0.5 * ((double)ga[i] + gb[i])));
        CHECKF(dz < 1e-5 && dg < 1e-5, "ensemble: logits off by %g, gradient by %g", dz, dg);
        gb_model_free(e);
    }
    /* Two copies of one model: exactly that model (halving and doubling are exact). */
    gb_model *same[2] = {a, a};
    CHECK_OK(gb_model_ensemble(same, 2, &e));
    if (e) {
        logits_and_grad(e, x, R, ze, ge);
        CHECK(memcmp(ze, za, sizeof(float) * (size_t)(N * K)) == 0);
        CHECK(memcmp(ge, ga, sizeof(float) * (size_t)(N * D)) == 0);
        gb_model_free(e);
    }
    /* Members that do not fit together. */
    gb_model *c6 = zoo("fc12", 1, 8, 8, 6, 3), *big = zoo("fc12", 1, 9, 9, 5, 4);
    gb_model *bad1[2] = {a, c6}, *bad2[2] = {a, big};
    CHECK(gb_model_ensemble(bad1, 2, &e) == GB_ERR_SHAPE && e == NULL);
    CHECK(strstr(gb_last_error(), "classes") != NULL);
    CHECK(gb_model_ensemble(bad2, 2, &e) == GB_ERR_SHAPE && e == NULL);
    CHECK(gb_model_ensemble(two, 0, &e) == GB_ERR_ARG);
    gb_model_free(c6);
    gb_model_free(big);
    gb_tensor_free(x);
    gb_tensor_free(R);
    gb_model_free(a);
    gb_model_free(b);
}

static void test_di_resize(void) {
    gb_rng r;
    gb_rng_seed(&r, 9, 1);
    enum { C = 2, H = 11, W = 9, D = C * H * W };
    float x[D], y[D], rr[D], back[D];
    for (int i = 0; i < D; i++) x[i] = gb_rng_uniform(&r), rr[i] = 2 * gb_rng_uniform(&r) - 1;
    /* Full size at the origin: the identity. */
    gb_di_resize_pad_forward(x, C, H, W, H, W, 0, 0, y);
    CHECK(memcmp(x, y, sizeof x) == 0);
    const int64_t cases[][4] = {{10, 8, 1, 0}, {10, 9, 0, 0}, {9, 7, 2, 2}, {7, 5, 3, 1}};
    for (int t = 0; t < 4; t++) {
        const int64_t rh = cases[t][0], rw = cases[t][1], top = cases[t][2], left = cases[t][3];
        /* Adjoint: <T x, r> == <x, T^T r>. */
        gb_di_resize_pad_forward(x, C, H, W, rh, rw, top, left, y);
        memset(back, 0, sizeof back);
        gb_di_resize_pad_backward(rr, C, H, W, rh, rw, top, left, back);
        double l = 0, rt = 0;
        for (int i = 0; i < D; i++) l += (double)y[i] * rr[i], rt += (double)x[i] * back[i];
        CHECKF(fabs(l - rt) < 1e-5 * (1 + fabs(l)), "DI transpose: %g vs %g", l, rt);
        /* An affine image a*i + b*j + c resizes to the same function at the
         * half-pixel source coordinates, where those stay inside the image;
         * the padding is zero. */
        float ramp[D];
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) ramp[(c * H + i) * W + j] = 0.05f * i - 0.03f * j + 0.4f + 0.1f * c;
        gb_di_resize_pad_forward(ramp, C, H, W, rh, rw, top, left, y);
        double worst = 0;
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    double got = y[(c * H + i) * W + j], want = 0;
                    int oi = i - (int)top, oj = j - (int)left;
                    if (oi >= 0 && oi < rh && oj >= 0 && oj < rw) {
                        double si = (oi + 0.5) * H / (double)rh - 0.5, sj = (oj + 0.5) * W / (double)rw - 0.5;
                        if (si < 0 || sj < 0 || si > H - 1 || sj > W - 1) continue; /* clamped at the edge */
                        want = 0.05 * si - 0.03 * sj + 0.4 + 0.1 * c;
                    }
                    worst = fmax(worst, fabs(got - want));
                }
        CHECKF(worst < 1e-5, "DI resize of a ramp off by %g (case %d)", worst, t);
    }
}

static void test_ti_kernel(void) {
    float w[GB_TI_MAX_KERNEL];
    for (int k = 1; k <= 15; k += 2) {
        CHECK(gb_ti_kernel(k, w) == k);
        double s2 = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                s2 += (double)w[i] * w[j];
                CHECK(w[i] * w[j] == w[j] * w[i] && w[i] == w[k - 1 - i]);
            }
        CHECKF(fabs(s2 - 1) < 1e-6, "TI kernel %d sums to %g", k, s2);
        /* Peak at the centre, +-3 sigma at the ends: exp(-4.5) relative. */
        if (k > 1) CHECKF(fabs(w[0] / w[k / 2] - exp(-4.5)) < 1e-6, "kernel %d ends %g", k, w[0] / w[k / 2]);
    }
    /* Separable smoothing == direct 2-D convolution with zero padding. */
    enum { C = 2, H = 7, W = 10 };
    gb_rng r;
    gb_rng_seed(&r, 3, 3);
    float g[C * H * W], ref[C * H * W], scratch[H * W];
    for (int i = 0; i < C * H * W; i++) g[i] = 2 * gb_rng_uniform(&r) - 1;
    const int k = 5, rad = 2;
    gb_ti_kernel(k, w);
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                double v = 0;
                for (int a = -rad; a <= rad; a++)
                    for (int b = -rad; b <= rad; b++)
                        if (i + a >= 0 && i + a < H && j + b >= 0 && j + b < W)
                            v += (double)w[a + rad] * w[b + rad] * g[(c * H + i + a) * W + j + b];
                ref[(c * H + i) * W + j] = (float)v;
            }
    gb_ti_smooth(g, C, H, W, k, scratch);
    double worst = 0;
    for (int i = 0; i < C * H * W; i++) worst = fmax(worst, fabs(g[i] - ref[i]));
    CHECKF(worst < 1e-6, "TI smoothing off by %g", worst);
}

static void run_pgd(gb_model *m, const gb_tensor *x, const int *y, float di, int ti, gb_attack_result *res) {
    gb_attack a = gb_attack_default_params(GB_ATTACK_PGD);
    a.eps = 0.1f, a.steps = 8, a.seed = 4;
    a.di_prob = di, a.ti_kernel = ti;
    CHECK_OK(gb_attack_run(&a, m, x, y, NULL, res));
}

static void test_di_ti_in_pgd(void) {
    gb_rng r;
    gb_rng_seed(&r, 5, 5);
    gb_model *m = zoo("conv4-fc16", 1, 12, 12, 4, 6);
    if (!m) return;
    const int64_t N = 6, D = 144;
    gb_tensor *x = gb_tensor_new4(N, 1, 12, 12);
    gc_fill_uniform(x, &r, 0.2f, 0.8f);
    int y[6] = {0, 1, 2, 3, 0, 1};
    gb_attack_result plain, p0, tiny, on, ti;
    run_pgd(m, x, y, 0, 0, &plain);
    run_pgd(m, x, y, 0, 1, &p0);       /* TI with a 1x1 kernel: off */
    run_pgd(m, x, y, 1e-30f, 0, &tiny); /* DI path taken, never fires: identical */
    run_pgd(m, x, y, 1, 0, &on);
    run_pgd(m, x, y, 0, 5, &ti);
    if (plain.x_adv && p0.x_adv && tiny.x_adv && on.x_adv && ti.x_adv) {
        size_t bytes = (size_t)(N * D) * sizeof(float);
        CHECK(memcmp(plain.x_adv->data, p0.x_adv->data, bytes) == 0);
        CHECK(memcmp(plain.x_adv->data, tiny.x_adv->data, bytes) == 0);
        CHECK(memcmp(plain.x_adv->data, on.x_adv->data, bytes) != 0);
        CHECK(memcmp(plain.x_adv->data, ti.x_adv->data, bytes) != 0);
        for (int64_t b = 0; b < N; b++) CHECK(on.linf[b] <= 0.1f + 1e-6f && ti.linf[b] <= 0.1f + 1e-6f);
        CHECK(plain.grad_evals == tiny.grad_evals);
    }
    gb_attack_result_free(&plain);
    gb_attack_result_free(&p0);
    gb_attack_result_free(&tiny);
    gb_attack_result_free(&on);
    gb_attack_result_free(&ti);
    gb_tensor_free(x);
    gb_model_free(m);
}

static void test_transfer_cell(void) {
    gb_rng r;
    gb_rng_seed(&r, 8, 8);
    gb_model *m = zoo("fc16", 1, 6, 6, 3, 9);
    if (!m) return;
    const int64_t N = 40;
    gb_tensor *x = gb_tensor_new4(N, 1, 6, 6), *xa = gb_tensor_new4(1, 1, 1, 1);
    gc_fill_uniform(x, &r, 0, 1);
    int y[40], pred[40];
    float conf[40];
    CHECK_OK(gb_predict(m, x, pred, conf));
    for (int i = 0; i < N; i++) y[i] = i % 3 ? pred[i] : (pred[i] + 1) % 3; /* a third wrong when clean */
    gb_attack a = gb_attack_default_params(GB_ATTACK_FGSM);
    a.eps = 0.3f;
    CHECK_OK(gb_transfer_craft(&a, m, x, y, NULL, 16, xa)); /* three batches */
    gb_attack_result res;
    CHECK_OK(gb_attack_run(&a, m, x, y, NULL, &res));
    gb_transfer_cell c;
    CHECK_OK(gb_transfer_eval(m, x, xa, y, NULL, 7, &c));
    if (res.x_adv) {
        int64_t right = 0, fooled = 0, adv_right = 0;
        for (int i = 0; i < N; i++) {
            right += res.clean_pred[i] == y[i];
            fooled += res.clean_pred[i] == y[i] && res.success[i];
            adv_right += res.adv_pred[i] == y[i];
        }
        /* FGSM has no randomness: batching does not change the images. */
        CHECK(memcmp(xa->data, res.x_adv->data, (size_t)x->size * sizeof(float)) == 0);
        CHECKF(c.clean_correct == right && c.fooled == fooled && c.adv_correct == adv_right && c.n == N,
               "cell %lld/%lld/%lld vs %lld/%lld/%lld", (long long)c.clean_correct, (long long)c.fooled,
               (long long)c.adv_correct, (long long)right, (long long)fooled, (long long)adv_right);
        CHECK(fabs(c.success_rate - (double)fooled / right) < 1e-12);
    }
    gb_tensor *other = gb_tensor_new4(N, 1, 7, 7);
    CHECK(gb_transfer_eval(m, x, other, y, NULL, 8, &c) == GB_ERR_SHAPE);
    gb_attack_result_free(&res);
    gb_tensor_free(other);
    gb_tensor_free(x);
    gb_tensor_free(xa);
    gb_model_free(m);
}

int main(void) {
    RUN(test_ensemble);
    RUN(test_di_resize);
    RUN(test_ti_kernel);
    RUN(test_di_ti_in_pgd);
    RUN(test_transfer_cell);
    CHECK_DONE();
}
