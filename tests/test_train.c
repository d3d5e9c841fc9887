/* test_train.c — optimizers against hand-computed updates, schedules,
 * training that learns, checkpoint/resume giving the same bits as an
 * uninterrupted run, and corrupt checkpoints refused. */
#include <unistd.h>

#include "check.h"
#include "train_util.h"
#include "gradcheck.h"
#include "train/train_internal.h"

static void test_sgd_step(void) {
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("fc4", 1, 2, 2, 2, 1, &m));
    gb_train_params p = gb_train_default_params();
    p.optimizer = GB_OPT_SGD;
    p.momentum = 0.5f;
    p.weight_decay = 0.1f;
    gb_optim o;
    CHECK_OK(gb_optim_init(&o, m, &p));
    gb_param w = gb_model_param(m, 0);
    float w0 = w.data[0];
    w.grad[0] = 2.0f;
    gb_optim_step(&o, m, 0.1f);
    float v1 = 2.0f + (w.decay ? 0.1f * w0 : 0);
    CHECK(fabsf(w.data[0] - (w0 - 0.1f * v1)) < 1e-6f);
    float w1 = w.data[0];
    gb_optim_step(&o, m, 0.1f); /* same gradient again: momentum accumulates */
    float v2 = 0.5f * v1 + 2.0f + (w.decay ? 0.1f * w1 : 0);
    CHECK(fabsf(w.data[0] - (w1 - 0.1f * v2)) < 1e-6f);
    gb_optim_free(&o);
    gb_model_free(m);
}

static void test_adam_step(void) {
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("fc4", 1, 2, 2, 2, 1, &m));
    gb_train_params p = gb_train_default_params();
    gb_optim o;
    CHECK_OK(gb_optim_init(&o, m, &p));
    gb_param w = gb_model_param(m, 0);
    float w0 = w.data[0];
    w.grad[0] = 0.3f;
    gb_optim_step(&o, m, 0.01f);
    /* First Adam step: m_hat = g, v_hat = g^2, so the step is lr * g/(|g|+eps). */
    CHECK(fabsf(w.data[0] - (w0 - 0.01f * 0.3f / (0.3f + 1e-8f))) < 1e-6f);
    gb_optim_free(&o);
    gb_model_free(m);
}

static void test_schedules(void) {
    gb_train_params p = gb_train_default_params();
    p.lr = 1.0f;
    p.epochs = 10;
    p.schedule = GB_SCHED_COSINE;
    CHECK(fabsf(gb_schedule_lr(&p, 0, 0) - 1.0f) < 1e-6f);
    CHECK(fabsf(gb_schedule_lr(&p, 5, 0) - 0.5f) < 1e-6f);
    CHECK(gb_schedule_lr(&p, 9, 0.999) < 0.01f);
    p.schedule = GB_SCHED_STEP;
    p.step_every = 3;
    p.step_gamma = 0.1f;
    CHECK(fabsf(gb_schedule_lr(&p, 2, 0.5) - 1.0f) < 1e-6f);
    CHECK(fabsf(gb_schedule_lr(&p, 3, 0) - 0.1f) < 1e-6f);
    CHECK(fabsf(gb_schedule_lr(&p, 6, 0) - 0.01f) < 1e-6f);
    p.warmup_epochs = 2;
    CHECK(gb_schedule_lr(&p, 0, 0.5) < 0.3f);
}

static void test_training_learns(void) {
    gb_dataset *train = rows_dataset(512, 1), *test = rows_dataset(256, 2);
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("conv8-fc16", 1, 8, 8, 4, 1, &m));
    float before, after;
    CHECK_OK(gb_evaluate(m, test, 64, &before, NULL));
    gb_train_params p = gb_train_default_params();
    p.epochs = 3;
    p.batch_size = 32;
    p.lr = 3e-3f;
    CHECK_OK(gb_train(m, train, test, &p));
    CHECK_OK(gb_evaluate(m, test, 64, &after, NULL));
    CHECKF(after > 0.95f, "accuracy %.3f after training (%.3f before)", after, before);
    gb_model_free(m);
    rows_dataset_free(train);
    rows_dataset_free(test);
}

/* Two epochs straight, or stopped after one and resumed: same bits. */
static void test_resume_identical(void) {
    char dir[] = "/tmp/gibbon_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char ck[256];
    snprintf(ck, sizeof ck, "%s/run.ckpt", dir);
    gb_dataset *train = rows_dataset(200, 3);
    const char *arch = "convbn4-fc8-drop0.2";
    gb_model *a, *b;
    CHECK_OK(gb_model_from_zoo(arch, 1, 8, 8, 4, 7, &a));
    CHECK_OK(gb_model_from_zoo(arch, 1, 8, 8, 4, 7, &b));
    gb_train_params p = gb_train_default_params();
    p.batch_size = 32;
    p.augment = 1;
    p.epochs = 2;
    CHECK_OK(gb_train(a, train, NULL, &p));
    p.checkpoint = ck;
    p.progress = stop_after_first_epoch;
    CHECK_OK(gb_train(b, train, NULL, &p));
    gb_model_free(b);
    CHECK_OK(gb_model_from_zoo(arch, 1, 8, 8, 4, 7, &b));
    p.progress = NULL;
    p.resume = 1;
    CHECK_OK(gb_train(b, train, NULL, &p));
    int64_t n = gb_model_param_count(a);
    float *pa = malloc((size_t)n * sizeof(float)), *pb = malloc((size_t)n * sizeof(float));
    params_snapshot(a, pa);
    params_snapshot(b, pb);
    CHECK(memcmp(pa, pb, (size_t)n * sizeof(float)) == 0);
    /* BatchNorm running statistics resume too: same outputs. */
    const gb_tensor *ya, *yb;
    CHECK_OK(gb_model_forward(a, train->images, &ya));
    gb_tensor *ca = gb_tensor_clone(ya);
    CHECK_OK(gb_model_forward(b, train->images, &yb));
    CHECK(memcmp(ca->data, yb->data, (size_t)ca->size * sizeof(float)) == 0);
    gb_tensor_free(ca);

    /* A corrupt checkpoint is refused before anything is applied. */
    FILE *f = fopen(ck, "r+b");
    fseek(f, 100, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    params_snapshot(b, pa);
    gb_optim o;
    gb_checkpoint_state st;
    CHECK_OK(gb_optim_init(&o, b, &p));
    gb_status s = gb_checkpoint_load(ck, b, &o, &st);
    CHECK(s == GB_ERR_FORMAT && strstr(gb_last_error(), ck));
    params_snapshot(b, pb);
    CHECK(memcmp(pa, pb, (size_t)n * sizeof(float)) == 0);
    /* Truncated, and missing. */
    CHECK(truncate(ck, 50) == 0);
    CHECK(gb_checkpoint_load(ck, b, &o, &st) == GB_ERR_FORMAT);
    unlink(ck);
    CHECK(gb_checkpoint_load(ck, b, &o, &st) == GB_ERR_IO);
    gb_optim_free(&o);
    free(pa);
    free(pb);
    gb_model_free(a);
    gb_model_free(b);
    rows_dataset_free(train);
    rmdir(dir);
}

static void test_bad_params(void) {
    gb_dataset *train = rows_dataset(16, 3);
    gb_model *m;
    CHECK_OK(gb_model_from_zoo("fc4", 1, 8, 8, 4, 1, &m));
    gb_train_params p = gb_train_default_params();
    p.batch_size = 0;
    CHECK(gb_train(m, train, NULL, &p) == GB_ERR_ARG);
    p = gb_train_default_params();
    train->labels[3] = 9; /* the model has 4 classes */
    CHECK(gb_train(m, train, NULL, &p) == GB_ERR_ARG);
    CHECK(strstr(gb_last_error(), "label 9") != NULL);
    gb_model_free(m);
    rows_dataset_free(train);
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_sgd_step);
    RUN(test_adam_step);
    RUN(test_schedules);
    RUN(test_training_learns);
    RUN(test_resume_identical);
    RUN(test_bad_params);
    CHECK_DONE();
}
