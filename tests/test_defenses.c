/* test_defenses.c — adversarial training: the TRADES KL gradient against
 * finite differences, a PGD-trained model that is robust where a plainly
 * trained one is not, every defense training without error, and
 * checkpoint/resume with PGD training giving the same bits. */
#include <unistd.h>

#include "check.h"
#include "train_util.h"
#include "train/train_internal.h"

/* Two classes on 8x8 images (Tsipras et al. 2019's robust/non-robust split):
 * rows 0-1 hold a robust feature 0.5 +- 0.35, right for only 85% of the
 * examples; the other 48 pixels hold a small feature 0.5 +- 0.08 (plus
 * noise), right for all of them. Plain training leans on the small feature,
 * which an L-inf attack of 0.1 flips; the robust feature survives it. */
static gb_dataset *robust_split(int64_t n, uint64_t seed) {
    gb_dataset *d = calloc(1, sizeof *d);
    d->images = gb_tensor_new4(n, 1, 8, 8);
    d->labels = calloc((size_t)n, sizeof(int));
    d->n = n;
    d->num_classes = 2;
    gb_rng r;
    gb_rng_seed(&r, seed, 1);
    for (int64_t i = 0; i < n; i++) {
        int y = (int)gb_rng_below(&r, 2);
        float sgn = y ? 1.0f : -1.0f;
        float rob = gb_rng_uniform(&r) < 0.85f ? sgn : -sgn;
        d->labels[i] = y;
        float *im = d->images->data + i * 64;
        for (int p = 0; p < 16; p++) im[p] = 0.5f + 0.35f * rob + 0.05f * (gb_rng_uniform(&r) - 0.5f);
        for (int p = 16; p < 64; p++) im[p] = 0.5f + 0.08f * sgn + 0.2f * (gb_rng_uniform(&r) - 0.5f);
    }
    return d;
}

static void free_set(gb_dataset *d) {
    gb_tensor_free(d->images);
    free(d->labels);
    free(d);
}

static void test_kl_gradient(void) {
    const int64_t N = 3, K = 5;
    gb_tensor *p = gb_tensor_new(2, (int64_t[]){N, K}), *q = gb_tensor_new(2, (int64_t[]){N, K});
    gb_tensor *dp = gb_tensor_new(2, (int64_t[]){N, K}), *dq = gb_tensor_new(2, (int64_t[]){N, K});
    gb_rng r;
    gb_rng_seed(&r, 9, 1);
    for (int64_t i = 0; i < N * K; i++) {
        p->data[i] = 2 * gb_rng_normal(&r);
        q->data[i] = 2 * gb_rng_normal(&r);
    }
    float kl;
    CHECK_OK(gb_loss_kl(p, q, &kl, dp, dq));
    CHECK(kl > 0);
    float self;
    CHECK_OK(gb_loss_kl(p, p, &self, NULL, NULL));
    CHECK(fabsf(self) < 1e-6f);
    const float h = 1e-2f;
    gb_tensor *in[2] = {p, q}, *grad[2] = {dp, dq};
    for (int w = 0; w < 2; w++)
        for (int64_t i = 0; i < N * K; i++) {
            float keep = in[w]->data[i], lp, lm;
            in[w]->data[i] = keep + h;
            CHECK_OK(gb_loss_kl(p, q, &lp, NULL, NULL));
            in[w]->data[i] = keep - h;
            CHECK_OK(gb_loss_kl(p, q, &lm, NULL, NULL));
            in[w]->data[i] = keep;
            float fd = (lp - lm) / (2 * h), an = grad[w]->data[i];
            CHECKF(fabsf(fd - an) <= 2e-4f + 2e-2f * fabsf(fd), "d%s[%lld]: analytic %g, finite difference %g",
                   w ? "q" : "p", (long long)i, (double)an, (double)fd);
        }
    CHECK(gb_loss_kl(p, dp, NULL, NULL, NULL) == GB_OK);
    gb_tensor *bad = gb_tensor_new(2, (int64_t[]){N, K + 1});
    CHECK(gb_loss_kl(p, bad, NULL, NULL, NULL) == GB_ERR_ARG);
    gb_tensor_free(bad);
    gb_tensor_free(p);
    gb_tensor_free(q);
    gb_tensor_free(dp);
    gb_tensor_free(dq);
}

static float robust_accuracy(gb_model *m, const gb_dataset *test, float eps) {
    gb_attack a = gb_attack_default_params(GB_ATTACK_PGD);
    a.eps = eps;
    a.steps = 20;
    gb_attack_result r;
    gb_status s = gb_attack_run(&a, m, test->images, test->labels, NULL, &r);
    CHECK_OK(s);
    if (s) return -1;
    int64_t ok = 0;
    for (int64_t i = 0; i < r.n; i++) ok += !r.success[i] && r.clean_pred[i] == test->labels[i];
    gb_attack_result_free(&r);
    return (float)ok / (float)test->n;
}

static float train_and_attack(gb_adv_kind kind, const gb_dataset *train, const gb_dataset *test,
                              float *clean) {
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("fc32", 1, 8, 8, 2, 1, &m));
    gb_train_params p = gb_train_default_params();
    p.epochs = 8;
    p.batch_size = 32;
    p.lr = 3e-3f;
    p.adv = kind;
    p.adv_eps = 0.1f;
    p.adv_steps = 5;
    CHECK_OK(gb_train(m, train, NULL, &p));
    CHECK_OK(gb_evaluate(m, test, 128, clean, NULL));
    float rob = robust_accuracy(m, test, 0.1f);
    gb_model_free(m);
    return rob;
}

/* PGD and TRADES training give robustness plain training does not. */
static void test_adversarial_training_is_robust(void) {
    const int64_t n = 768; /* about 2.5 s release, small enough for ASan as is */
    gb_dataset *train = robust_split(n, 1), *test = robust_split(256, 2);
    float c_plain, c_pgd, c_trades;
    float r_plain = train_and_attack(GB_ADV_NONE, train, test, &c_plain);
    float r_pgd = train_and_attack(GB_ADV_PGD, train, test, &c_pgd);
    float r_trades = train_and_attack(GB_ADV_TRADES, train, test, &c_trades);
    printf("  clean / PGD-20 robust accuracy at eps 0.1: plain %.3f / %.3f, pgd %.3f / %.3f, "
           "trades %.3f / %.3f\n", (double)c_plain, (double)r_plain, (double)c_pgd, (double)r_pgd,
           (double)c_trades, (double)r_trades);
    CHECKF(c_plain > 0.95f, "plain clean accuracy %.3f", (double)c_plain);
    CHECKF(r_plain < 0.3f, "plain robust accuracy %.3f", (double)r_plain);
    CHECKF(r_pgd > 0.7f && r_pgd > r_plain + 0.4f, "pgd robust %.3f vs plain %.3f", (double)r_pgd,
           (double)r_plain);
    CHECKF(r_trades > 0.5f && r_trades > r_plain + 0.4f, "trades robust %.3f vs plain %.3f",
           (double)r_trades, (double)r_plain);
    free_set(train);
    free_set(test);
}

typedef struct seen_progress {
    int calls;
    float adv_acc, acc;
} seen_progress;

static int record(const gb_train_progress *pr, void *user) {
    seen_progress *sp = user;
    sp->calls++;
    sp->adv_acc = pr->adv_accuracy;
    sp->acc = pr->accuracy;
    return 0;
}

/* FGSM and fast training run, report adversarial numbers, and refuse bad parameters. */
static void test_every_kind_trains(void) {
    gb_dataset *train = robust_split(128, 4);
    for (int k = GB_ADV_FGSM; k <= GB_ADV_TRADES; k++) {
        gb_model *m;
        CHECK_OK(gb_model_from_zoo("convbn4-fc8-drop0.2", 1, 8, 8, 2, 1, &m));
        gb_train_params p = gb_train_default_params();
        p.epochs = 1;
        p.batch_size = 50; /* a short last batch */
        p.adv = (gb_adv_kind)k;
        p.label_smoothing = k == GB_ADV_FGSM ? 0.1f : 0;
        seen_progress sp = {0};
        p.progress = record;
        p.user = &sp;
        CHECK_OK(gb_train(m, train, NULL, &p));
        CHECKF(sp.calls == 4 && sp.adv_acc >= 0 && sp.adv_acc <= 1 && sp.acc >= 0, "%s: %d calls, adv acc %g",
               gb_adv_name((gb_adv_kind)k), sp.calls, (double)sp.adv_acc);
        p.adv_eps = 0;
        CHECK(gb_train(m, train, NULL, &p) == GB_ERR_ARG);
        gb_model_free(m);
    }
    gb_adv_kind kind;
    CHECK_OK(gb_adv_parse("trades", &kind));
    CHECK(kind == GB_ADV_TRADES);
    CHECK(gb_adv_parse("madry", &kind) == GB_ERR_ARG);
    free_set(train);
}

/* PGD training two epochs straight, or stopped after one and resumed: same
 * bits (the random starts' RNG is in the checkpoint). */
static void test_resume_identical_pgd(void) {
    char dir[] = "/tmp/gibbon_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char ck[256];
    snprintf(ck, sizeof ck, "%s/run.ckpt", dir);
    gb_dataset *train = robust_split(160, 3);
    const char *arch = "convbn4-fc8-drop0.2";
    gb_model *a, *b;
    CHECK_OK(gb_model_from_zoo(arch, 1, 8, 8, 2, 7, &a));
    CHECK_OK(gb_model_from_zoo(arch, 1, 8, 8, 2, 7, &b));
    gb_train_params p = gb_train_default_params();
    p.batch_size = 32;
    p.epochs = 2;
    p.adv = GB_ADV_PGD;
    p.adv_steps = 3;
    CHECK_OK(gb_train(a, train, NULL, &p));
    p.checkpoint = ck;
    p.progress = stop_after_first_epoch;
    CHECK_OK(gb_train(b, train, NULL, &p));
    gb_model_free(b);
    CHECK_OK(gb_model_from_zoo(arch, 1, 8, 8, 2, 7, &b));
    p.progress = NULL;
    p.resume = 1;
    CHECK_OK(gb_train(b, train, NULL, &p));
    int64_t n = gb_model_param_count(a);
    float *pa = malloc((size_t)n * sizeof(float)), *pb = malloc((size_t)n * sizeof(float));
    params_snapshot(a, pa);
    params_snapshot(b, pb);
    CHECK(memcmp(pa, pb, (size_t)n * sizeof(float)) == 0);
    free(pa);
    free(pb);
    gb_model_free(a);
    gb_model_free(b);
    free_set(train);
    unlink(ck);
    rmdir(dir);
}

/* Mean over d of: the top-two logit gap, the L1 norm of the input gradient
 * of CE at T = 1, and the same for the C&W margin. */
static void gradient_stats(gb_model *m, const gb_dataset *d, double *gap, double *ce, double *cw) {
    const gb_tensor *z, *dx;
    gb_tensor *g = gb_tensor_new4(d->n, 1, 8, 8), *dl = gb_tensor_new(2, (int64_t[]){d->n, 4});
    CHECK_OK(gb_input_gradient(m, d->images, d->labels, g, NULL));
    *ce = 0;
    for (int64_t i = 0; i < g->size; i++) *ce += fabs(g->data[i]);
    *ce /= (double)d->n;
    CHECK_OK(gb_model_forward(m, d->images, &z));
    *gap = 0;
    for (int64_t b = 0; b < d->n; b++) {
        float a = -INFINITY, c = -INFINITY;
        for (int k = 0; k < 4; k++) {
            float v = z->data[b * 4 + k];
            if (v > a) c = a, a = v;
            else if (v > c) c = v;
        }
        *gap += a - c;
    }
    *gap /= (double)d->n;
    CHECK_OK(gb_attack_loss(GB_LOSS_CW, z, d->labels, NULL, 1e30f, NULL, dl));
    CHECK_OK(gb_model_backward(m, dl, GB_GRAD_INPUT, &dx));
    *cw = 0;
    for (int64_t i = 0; i < dx->size; i++) *cw += fabs(dx->data[i]);
    *cw /= (double)d->n;
    gb_tensor_free(g);
    gb_tensor_free(dl);
}

/* Defensive distillation at T = 100: the student is accurate, its logits
 * are scaled up by ~T, the cross-entropy gradient at T = 1 vanishes
 * (gradient masking) while the C&W margin gradient does not. */
static void test_distillation_masks_gradients(void) {
    char dir[] = "/tmp/gibbon_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/teacher.onnx", dir);
    gb_dataset *train = rows_dataset(512, 1), *test = rows_dataset(128, 2); /* class k: bright row 2k */
    gb_train_params p = gb_train_default_params();
    p.epochs = 4;
    p.batch_size = 32;
    p.lr = 3e-3f;
    gb_model *plain, *teacher, *student;
    CHECK_OK(gb_model_from_zoo("fc32", 1, 8, 8, 4, 1, &plain));
    CHECK_OK(gb_train(plain, train, NULL, &p));
    p.temperature = 100;
    p.epochs = 30; /* the logits must grow ~T times: many more steps */
    p.lr = 1e-2f;
    CHECK_OK(gb_model_from_zoo("fc32", 1, 8, 8, 4, 2, &teacher));
    CHECK_OK(gb_train(teacher, train, NULL, &p));
    CHECK_OK(gb_model_save_onnx(teacher, path)); /* the CLI's route: the teacher comes from a file */
    gb_model_free(teacher);
    CHECK_OK(gb_model_load_onnx(path, &teacher));
    p.teacher = teacher;
    CHECK_OK(gb_model_from_zoo("fc32", 1, 8, 8, 4, 3, &student));
    CHECK_OK(gb_train(student, train, NULL, &p));
    float acc_plain, acc_student;
    CHECK_OK(gb_evaluate(plain, test, 128, &acc_plain, NULL));
    CHECK_OK(gb_evaluate(student, test, 128, &acc_student, NULL));
    double gap_p, ce_p, cw_p, gap_s, ce_s, cw_s;
    gradient_stats(plain, test, &gap_p, &ce_p, &cw_p);
    gradient_stats(student, test, &gap_s, &ce_s, &cw_s);
    printf("  plain: acc %.3f, logit gap %.3g, |grad CE| %.3g, |grad CW| %.3g\n"
           "  distilled T=100: acc %.3f, logit gap %.3g, |grad CE| %.3g, |grad CW| %.3g\n",
           (double)acc_plain, gap_p, ce_p, cw_p, (double)acc_student, gap_s, ce_s, cw_s);
    CHECKF(acc_student > 0.95f, "student accuracy %.3f", (double)acc_student);
    CHECKF(gap_s > 10 * gap_p, "logit gap %.3g vs plain %.3g", gap_s, gap_p);
    CHECKF(ce_s < 1e-3 * ce_p, "CE gradient %.3g vs plain %.3g", ce_s, ce_p);
    CHECKF(cw_s > 0.1 * cw_p, "C&W gradient %.3g vs plain %.3g", cw_s, cw_p);
    p.label_smoothing = 0.1f;
    CHECK(gb_train(student, train, NULL, &p) == GB_ERR_ARG);
    gb_model_free(plain);
    gb_model_free(teacher);
    gb_model_free(student);
    free_set(train);
    free_set(test);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_kl_gradient);
    RUN(test_adversarial_training_is_robust);
    RUN(test_every_kind_trains);
    RUN(test_resume_identical_pgd);
    RUN(test_distillation_masks_gradients);
    CHECK_DONE();
}
