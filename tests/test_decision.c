/* test_decision.c — the decision-based attacks (Boundary Attack,
 * HopSkipJump) against answers known in closed form. On an affine
 * classifier f(x) = W x + b the smallest L2 (L-inf) perturbation that
 * changes the label from y is min_j (f_y - f_j) / ||w_y - w_j||_2 (_1); both
 * attacks must get within 1.5x (HSJ-L-inf: 2x) of it inside their query
 * budget, through a label-only oracle (which refuses to give scores, so an
 * attack that asked for them would fail), with every query counted exactly:
 * the per-example counts must add up to the oracle's own counter and stay
 * within the budget. HSJ's result must sit on the decision boundary within
 * its binary-search threshold. Then, on the shipped CNN (release builds),
 * HSJ-L2 with 1,000 queries must come within 2x of C&W-L2's white-box L2
 * (the bound; median of the per-image ratios, measured 1.95x) and
 * within 1.8x of DeepFool's (measured 1.63x). */
#include "check.h"
#include "gradcheck.h"
#include "affine_model.h"
#include "attacks/attacks.h"

static int sanitized(void) {
    const char *s = getenv("GIBBON_TEST_SANITIZED");
    return s && *s && strcmp(s, "0") != 0;
}

enum { C = 1, H = 8, W = 8, D = C * H * W, KMAX = 4, N = 6 };
/* Classes of the affine model: 4, or 2 for the Boundary Attack. With more
 * than two classes the region of class y is a convex polytope, and a local
 * search along its surface (the Boundary Attack) can settle, legitimately,
 * at the nearest point of a face that is not the closest face; with two
 * classes there is one hyperplane and the closed form is the answer. */
static int K = KMAX;

/* The affine model's logits for x (D) into f (K). */
static void affine_logits(gb_model *m, const float *x, double *f) {
    gb_param Wp = gb_model_param(m, 0), B = gb_model_param(m, 1);
    for (int k = 0; k < K; k++) {
        f[k] = B.data[k];
        for (int i = 0; i < D; i++) f[k] += (double)Wp.data[k * D + i] * x[i];
    }
}

/* Closed-form smallest perturbation (dual norm q: 2 for L2, 1 for L-inf). */
static double min_dist(gb_model *m, const float *x, int y, int linf) {
    gb_param Wp = gb_model_param(m, 0);
    double f[KMAX], best = INFINITY;
    affine_logits(m, x, f);
    for (int j = 0; j < K; j++) {
        if (j == y) continue;
        double n = 0;
        for (int i = 0; i < D; i++) {
            double w = (double)Wp.data[y * D + i] - Wp.data[j * D + i];
            n += linf ? fabs(w) : w * w;
        }
        best = fmin(best, (f[y] - f[j]) / (linf ? n : sqrt(n)));
    }
    return best;
}

/* The affine model's batch, labelled with its own predictions. */
static gb_model *setup(gb_tensor **x, int *y, uint64_t seed) {
    gb_rng r;
    gb_rng_seed(&r, seed, 3);
    gb_model *m = affine_model(C, H, W, K, &r, 0.3f);
    *x = gb_tensor_new4(N, C, H, W);
    gc_fill_uniform(*x, &r, 0.3f, 0.7f);
    for (int b = 0; b < N; b++) {
        double f[KMAX];
        affine_logits(m, (*x)->data + b * D, f);
        y[b] = 0;
        for (int k = 1; k < K; k++)
            if (f[k] > f[y[b]]) y[b] = k;
    }
    return m;
}

static void run_affine(gb_attack_kind kind, gb_norm norm, int classes, int budget, double max_ratio) {
    K = classes;
    gb_tensor *x;
    int y[N];
    gb_model *m = setup(&x, y, 5);
    gb_oracle *o = NULL;
    CHECK_OK(gb_oracle_from_model(m, GB_ORACLE_LABELS, &o));
    if (!o) return;
    gb_attack a = gb_attack_default_params(kind);
    a.norm = norm;
    a.eps = 0;
    a.steps = budget;
    a.clip_min = -100, a.clip_max = 100; /* no box in the closed form */
    gb_attack_result res;
    CHECK_OK(gb_attack_run_oracle(&a, o, x, y, NULL, &res));
    if (res.x_adv) {
        const int linf = norm == GB_NORM_LINF;
        int64_t total = 0;
        double worst = 0;
        for (int b = 0; b < N; b++) {
            const float *xa = res.x_adv->data + b * D, *x0 = x->data + b * D;
            double f[KMAX], best = min_dist(m, x0, y[b], linf);
            affine_logits(m, xa, f);
            int p = 0;
            for (int k = 1; k < K; k++)
                if (f[k] > f[p]) p = k;
            /* The oracle's float logits decide; in double the point may sit a
             * rounding error on the other side of the boundary. */
            CHECKF(res.success[b] && f[p] - f[y[b]] > -1e-5, "%s example %d: not adversarial", gb_attack_name(kind), b);
            double got = linf ? res.linf[b] : res.l2[b];
            worst = fmax(worst, got / best);
            CHECKF(got >= best * (1 - 1e-4), "%s example %d: %g below the minimum %g", gb_attack_name(kind), b, got, best);
            CHECKF(res.evals[b] <= budget, "%s example %d: %lld queries, budget %d", gb_attack_name(kind), b,
                   (long long)res.evals[b], budget);
            total += res.evals[b];
            if (kind == GB_ATTACK_HSJ && !linf) {
                /* On the boundary: the hyperplane between y and p is within
                 * the binary search's threshold theta = d^-3/2 of the blend. */
                gb_param Wp = gb_model_param(m, 0);
                double wn = 0;
                for (int i = 0; i < D; i++) {
                    double w = (double)Wp.data[p * D + i] - Wp.data[y[b] * D + i];
                    wn += w * w;
                }
                double gap = (f[p] - f[y[b]]) / sqrt(wn), theta = 1 / (sqrt((double)D) * D);
                CHECKF(gap >= 0 && gap <= 2 * theta * got, "hsj example %d: %g from the boundary (dist %g)", b, gap, got);
            }
        }
        printf("  %s %s: worst L/L_min %.3f, %lld queries\n", gb_attack_name(kind), gb_norm_name(norm), worst,
               (long long)total);
        CHECKF(worst <= max_ratio, "%s %s: %.3f times the minimal distance", gb_attack_name(kind), gb_norm_name(norm), worst);
        CHECKF(total == gb_oracle_queries(o), "queries: examples %lld, oracle %lld", (long long)total,
               (long long)gb_oracle_queries(o));
        CHECK(total == res.grad_evals);
    }
    gb_attack_result_free(&res);
    gb_oracle_free(o);
    gb_tensor_free(x);
    gb_model_free(m);
}

static void test_hsj_l2_affine(void) { run_affine(GB_ATTACK_HSJ, GB_NORM_L2, 4, 1500, 1.5); }
static void test_hsj_linf_affine(void) { run_affine(GB_ATTACK_HSJ, GB_NORM_LINF, 4, 3000, 2.0); }
static void test_boundary_affine(void) { run_affine(GB_ATTACK_BOUNDARY, GB_NORM_L2, 2, 5000, 1.5); }

/* Median over the examples all runs break of a[i] / b[i]; INFINITY if none. */
enum { WB_N = 16 }; /* images of the white-box comparison */
static double median_ratio(const gb_attack_result *a, const gb_attack_result *b, const int *y, int n, int *count) {
    double ratio[WB_N];
    int k = 0;
    for (int i = 0; i < n && k < WB_N; i++) {
        if (a->clean_pred[i] != y[i] || !a->success[i] || !b->success[i]) continue;
        ratio[k++] = a->l2[i] / b->l2[i];
    }
    for (int i = 1; i < k; i++) /* insertion sort */
        for (int j = i; j > 0 && ratio[j] < ratio[j - 1]; j--) {
            double t = ratio[j];
            ratio[j] = ratio[j - 1], ratio[j - 1] = t;
        }
    *count = k;
    return k ? (k % 2 ? ratio[k / 2] : 0.5 * (ratio[k / 2 - 1] + ratio[k / 2])) : INFINITY;
}

/* HopSkipJump-L2 with 1,000 label queries against white-box L2 on the
 * shipped CNN, first 16 test images (one batch: HSJ starts from the nearest
 * batch images of another class), medians of the per-image ratios:
 *  - DeepFool (overshoot 0.02): measured 1.63x;
 *  - C&W-L2 with 6 binary steps x 500 Adam steps from c = 0.01 instead of
 *    9 x 10,000 from 1e-3 (3x cheaper than a 9 x 1,000 run, which takes
 *    40 s on 12 images): on the first 12 images its L2 is within 3% of the
 *    9 x 1,000 run's on 11 of them (28% on one), so it is C&W's answer, not a
 *    loose upper bound; it must beat DeepFool's median (it does by ~14%).
 *    Measured HSJ / C&W: 1.95x (the paper's noise start: 2.46x on the first
 *    8; first 32: 1.90x). The margin to the 2x is small: a broken
 *    gradient estimate, step search or start ends several times farther. */
static void test_hsj_vs_whitebox(void) {
    if (sanitized()) return; /* 16,000 CNN queries and 48,000 C&W steps: release builds only */
    gb_model *m = NULL;
    gb_dataset *d = NULL;
    CHECK_OK(gb_model_load_onnx("models/fmnist_cnn.onnx", &m));
    CHECK_OK(gb_dataset_load("fashion-mnist:test:16", &d));
    if (!m || !d) return;
    gb_attack h = gb_attack_default_params(GB_ATTACK_HSJ), df = gb_attack_default_params(GB_ATTACK_DEEPFOOL);
    gb_attack cw = gb_attack_default_params(GB_ATTACK_CW_L2);
    h.steps = 1000;
    cw.binary_steps = 6, cw.steps = 500, cw.initial_const = 0.01f;
    gb_attack_result rh, rd, rc;
    CHECK_OK(gb_attack_run(&h, m, d->images, d->labels, NULL, &rh));
    CHECK_OK(gb_attack_run(&df, m, d->images, d->labels, NULL, &rd));
    CHECK_OK(gb_attack_run(&cw, m, d->images, d->labels, NULL, &rc));
    if (rh.x_adv && rd.x_adv && rc.x_adv) {
        for (int i = 0; i < d->n; i++) CHECK(rh.evals[i] <= 1000);
        int nd, nc, ncd;
        double vs_df = median_ratio(&rh, &rd, d->labels, (int)d->n, &nd);
        double vs_cw = median_ratio(&rh, &rc, d->labels, (int)d->n, &nc);
        double cw_df = median_ratio(&rc, &rd, d->labels, (int)d->n, &ncd);
        printf("  hsj-l2 (1000 queries) / deepfool-l2: median %.3f over %d examples\n", vs_df, nd);
        printf("  hsj-l2 (1000 queries) / cw-l2: median %.3f over %d examples (cw / deepfool %.3f)\n", vs_cw, nc,
               cw_df);
        CHECK(nd >= 14 && nc >= 14);
        CHECKF(vs_df <= 1.8, "hsj L2 %.3f times deepfool's", vs_df);
        CHECKF(cw_df < 1, "c&w L2 %.3f times deepfool's: not converged", cw_df);
        CHECKF(vs_cw <= 2.0, "hsj L2 %.3f times c&w's", vs_cw);
    }
    gb_attack_result_free(&rh);
    gb_attack_result_free(&rd);
    gb_attack_result_free(&rc);
    gb_dataset_free(d);
    gb_model_free(m);
}

int main(void) {
    RUN(test_hsj_l2_affine);
    RUN(test_hsj_linf_affine);
    RUN(test_boundary_affine);
    RUN(test_hsj_vs_whitebox);
    CHECK_DONE();
}
