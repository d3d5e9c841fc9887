/* cmd_train.c — `gibbon train`: build a zoo model, train it (plainly or
 * adversarially), save ONNX. Under mpirun (make MPI=1) the ranks train one
 * model data-parallel (gb_train_comm over MPI_Allreduce); rank 0 prints,
 * logs and writes the files. */
#include "cli.h"
#include "dist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static char summary[4096];

static int comm_allreduce(float *buf, int64_t n, void *ctx) {
    (void)ctx;
    return dist_allreduce_sum(buf, n);
}

/* Where progress goes: the terminal (rank 0 only) and the --log CSV. */
typedef struct train_out {
    FILE *log;
    int quiet;
} train_out;

static int train_progress(const gb_train_progress *p, void *user) {
    train_out *o = user;
    if (o->log && !p->epoch_done) {
        fprintf(o->log, "%d,%lld,%lld,%.9g,%.9g,%.9g,%.9g,%.9g\n", p->epoch, (long long)p->step,
                (long long)p->seen, (double)p->batch_loss, (double)p->batch_accuracy, (double)p->batch_adv_loss,
                (double)p->batch_adv_accuracy, (double)p->lr);
        fflush(o->log);
    }
    return o->quiet ? 0 : cli_train_progress(p, NULL);
}

int cmd_train(int argc, char **argv) {
    gb_train_params p = gb_train_default_params();
    const char *arch = "cnn", *data = "fashion-mnist:train", *test = "fashion-mnist:test";
    const char *out = NULL, *checkpoint = NULL, *optimizer = "adam", *schedule = "cosine";
    const char *adv = "none", *distill = NULL, *log = NULL;
    int resume = 0;
    cli_opt opts[] = {
        {"arch", OPT_STR, &arch, "architecture: a zoo name or description (default cnn)"},
        {"data", OPT_STR, &data, "training set (default fashion-mnist:train)"},
        {"test", OPT_STR, &test, "test set evaluated each epoch, or 'none' (default fashion-mnist:test)"},
        {"out", OPT_STR, &out, "where to save the trained model (.onnx, required)"},
        {"epochs", OPT_INT, &p.epochs, "epochs (default 10)"},
        {"batch", OPT_INT, &p.batch_size, "batch size (default 128)"},
        {"optimizer", OPT_STR, &optimizer, "adam (AdamW) or sgd (momentum) (default adam)"},
        {"lr", OPT_FLOAT, &p.lr, "peak learning rate (default 0.001)"},
        {"momentum", OPT_FLOAT, &p.momentum, "SGD momentum (default 0.9)"},
        {"weight-decay", OPT_FLOAT, &p.weight_decay, "weight decay on weights (default 0)"},
        {"schedule", OPT_STR, &schedule, "constant, step or cosine (default cosine)"},
        {"step-every", OPT_INT, &p.step_every, "epochs between steps for --schedule step (default 10)"},
        {"gamma", OPT_FLOAT, &p.step_gamma, "lr factor per step for --schedule step (default 0.1)"},
        {"warmup", OPT_INT, &p.warmup_epochs, "epochs of linear warm-up (default 0)"},
        {"augment", OPT_FLAG, &p.augment, "random flips and 2-pixel shifts"},
        {"label-smoothing", OPT_FLOAT, &p.label_smoothing, "label smoothing (default 0)"},
        {"seed", OPT_U64, &p.seed, "seed for initialization, shuffling, dropout (default 1)"},
        {"checkpoint", OPT_STR, &checkpoint, "checkpoint file written every epoch (default OUT.ckpt)"},
        {"resume", OPT_FLAG, &resume, "continue from the checkpoint if it exists"},
        {"log", OPT_STR, &log,
         "CSV of every step: epoch,step,images,loss,accuracy,adv_loss,adv_accuracy,lr (the batch's; "
         "appended to with --resume)"},
        {"adv", OPT_STR, &adv, "adversarial training: none, fgsm, fast, pgd or trades (default none)"},
        {"adv-eps", OPT_FLOAT, &p.adv_eps, "L-inf radius of the training attack, pixels in [0,1] (default 0.1)"},
        {"adv-steps", OPT_INT, &p.adv_steps, "pgd/trades inner steps (default 7)"},
        {"adv-step-size", OPT_FLOAT, &p.adv_step_size,
         "inner step (default pgd/trades 2.5*eps/steps, fgsm eps, fast 1.25*eps)"},
        {"adv-alpha", OPT_FLOAT, &p.adv_alpha, "fgsm: weight of the clean loss (default 0.5)"},
        {"trades-beta", OPT_FLOAT, &p.trades_beta, "trades: weight of the KL term (default 6)"},
        {"temperature", OPT_FLOAT, &p.temperature,
         "train with the loss at softmax temperature T (default 1); the saved model runs at T = 1"},
        {"distill-from", OPT_STR, &distill,
         "defensive distillation: train on this teacher's (.onnx) softmax(z/T) soft labels"},
        {"noise-sigma", OPT_FLOAT, &p.noise_sigma,
         "randomized smoothing: add N(0, S^2) noise to every training image (default 0: off)"},
        {0}};
    snprintf(summary, sizeof summary, "Trains a model from the built-in zoo and saves it as ONNX.\n\n%s",
             gb_zoo_describe());
    int r = cli_parse("train", summary, argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    dist_init(); /* under mpirun: the ranks share each step's batch */
    const int root = dist_rank() == 0;
    gb_train_comm comm = {dist_rank(), dist_size(), comm_allreduce, NULL};
    if (dist_size() > 1) p.comm = &comm;
    if (!out) {
        fprintf(stderr, "gibbon train: --out is required\n");
        return 2;
    }
    if (strcmp(optimizer, "adam") == 0) p.optimizer = GB_OPT_ADAM;
    else if (strcmp(optimizer, "sgd") == 0) p.optimizer = GB_OPT_SGD;
    else {
        fprintf(stderr, "gibbon train: --optimizer: '%s' is not adam or sgd\n", optimizer);
        return 2;
    }
    if (strcmp(schedule, "constant") == 0) p.schedule = GB_SCHED_CONSTANT;
    else if (strcmp(schedule, "step") == 0) p.schedule = GB_SCHED_STEP;
    else if (strcmp(schedule, "cosine") == 0) p.schedule = GB_SCHED_COSINE;
    else {
        fprintf(stderr, "gibbon train: --schedule: '%s' is not constant, step or cosine\n", schedule);
        return 2;
    }
    if (p.epochs < 1 || p.batch_size < 1 || !(p.lr > 0) || p.warmup_epochs < 0) {
        fprintf(stderr, "gibbon train: --epochs, --batch and --lr must be positive\n");
        return 2;
    }
    if (!(p.noise_sigma >= 0)) {
        fprintf(stderr, "gibbon train: --noise-sigma must be non-negative\n");
        return 2;
    }
    if (gb_adv_parse(adv, &p.adv)) {
        fprintf(stderr, "gibbon train: --adv: '%s' is not none, fgsm, fast, pgd or trades\n", adv);
        return 2;
    }
    if (p.adv != GB_ADV_NONE && (!(p.adv_eps > 0) || p.adv_steps < 1 || p.adv_step_size < 0 ||
                                 !(p.adv_alpha >= 0 && p.adv_alpha <= 1) || !(p.trades_beta >= 0))) {
        fprintf(stderr, "gibbon train: --adv-eps and --adv-steps must be positive, --adv-alpha in [0, 1], "
                        "--trades-beta and --adv-step-size non-negative\n");
        return 2;
    }
    if (!(p.temperature > 0)) {
        fprintf(stderr, "gibbon train: --temperature must be positive\n");
        return 2;
    }
    if ((distill || p.temperature != 1) && p.adv != GB_ADV_NONE) {
        fprintf(stderr, "gibbon train: --temperature and --distill-from do not combine with --adv\n");
        return 2;
    }
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", out);
    p.checkpoint = checkpoint ? checkpoint : ckpt;
    p.resume = resume;
    train_out tout = {NULL, !root};
    p.progress = train_progress;
    p.user = &tout;

    gb_dataset *train = NULL, *testset = NULL;
    gb_model *m = NULL, *teacher = NULL;
    int rc = 0;
    if (gb_dataset_load(data, &train)) {
        rc = cli_fail("");
        goto done;
    }
    if (strcmp(test, "none") != 0 && gb_dataset_load(test, &testset)) {
        rc = cli_fail("");
        goto done;
    }
    if (distill) {
        if (gb_model_load_onnx(distill, &teacher)) {
            rc = cli_fail("--distill-from");
            goto done;
        }
        p.teacher = teacher;
    }
    const gb_tensor *im = train->images;
    if (gb_model_from_zoo(arch, (int)im->shape[1], (int)im->shape[2], (int)im->shape[3],
                          train->num_classes, p.seed, &m)) {
        rc = cli_fail("--arch");
        goto done;
    }
    if (log && root) {
        FILE *f = resume ? fopen(log, "r") : NULL; /* resuming an existing log: append */
        if (f) fclose(f);
        tout.log = fopen(log, f ? "a" : "w");
        if (!tout.log) {
            fprintf(stderr, "gibbon train: --log: cannot write %s: %s\n", log, strerror(errno));
            if (p.comm) dist_abort(2);
            rc = 2;
            goto done;
        }
        if (!f) fprintf(tout.log, "epoch,step,images,loss,accuracy,adv_loss,adv_accuracy,lr\n");
    }
    if (root) {
        fprintf(stderr, "training %s (%lld parameters) on %s: %lld images, %d epochs", gb_model_arch(m),
                (long long)gb_model_param_count(m), data, (long long)train->n, p.epochs);
        if (p.adv != GB_ADV_NONE)
            fprintf(stderr, ", %s adversarial training at eps %g", gb_adv_name(p.adv), (double)p.adv_eps);
        if (p.temperature != 1) fprintf(stderr, ", temperature %g", (double)p.temperature);
        if (distill) fprintf(stderr, ", distilled from %s", distill);
        if (p.comm) fprintf(stderr, ", data-parallel over %d ranks", comm.size);
        fputc('\n', stderr);
    }
    if (gb_train(m, train, testset, &p)) {
        rc = cli_fail("training");
        /* The other ranks would wait for this one in their next allreduce. */
        if (p.comm) dist_abort(rc);
        goto done;
    }
    if (!root) goto done; /* the ranks hold the same model: rank 0 saves and reports it */
    if (gb_model_save_onnx(m, out)) {
        rc = cli_fail("");
        goto done;
    }
    if (testset) {
        float acc;
        if (gb_evaluate(m, testset, 256, &acc, NULL)) rc = cli_fail("");
        else printf("test accuracy %.4f (%lld examples); saved %s\n", acc, (long long)testset->n, out);
    } else {
        printf("saved %s\n", out);
    }
done:
    if (tout.log) fclose(tout.log);
    gb_model_free(m);
    gb_model_free(teacher);
    gb_dataset_free(train);
    gb_dataset_free(testset);
    return rc;
}
