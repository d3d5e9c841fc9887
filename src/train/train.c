/* train.c — the training loop: shuffled mini-batches, optional augmentation
 * (random horizontal flip and shifts of up to 2 pixels with zero fill),
 * cross-entropy with optional label smoothing, an optimizer step per batch,
 * test accuracy and a checkpoint after every epoch, and resume; optionally
 * adversarial training (adversarial.c makes each batch's examples):
 *  - fast, PGD: the loss on x_adv only (Madry et al. 2018, eq. 2.1);
 *  - FGSM: alpha * CE(x) + (1 - alpha) * CE(x_adv) (Goodfellow et al. 2015, eq. 7);
 *  - TRADES: CE(f(x), y) + beta * KL(f(x) || f(x_adv)) (Zhang et al. 2019, eq. 5).
 * FGSM and TRADES forward [x; x_adv] as one batch of 2n (one BatchNorm
 * statistic over both halves), so both halves' gradients flow in one pass.
 * Defensive distillation (Papernot et al. 2016, sec. IV): the loss is taken
 * at temperature T, against the teacher's softmax(z / T) when a teacher is
 * given; no T^2 factor, the loss being defined at T. */
#include "train_internal.h"

#include <math.h>

gb_train_params gb_train_default_params(void) {
    gb_train_params p = {0};
    p.optimizer = GB_OPT_ADAM;
    p.lr = 1e-3f;
    p.momentum = 0.9f;
    p.weight_decay = 0;
    p.beta1 = 0.9f;
    p.beta2 = 0.999f;
    p.adam_eps = 1e-8f;
    p.schedule = GB_SCHED_COSINE;
    p.step_every = 10;
    p.step_gamma = 0.1f;
    p.epochs = 10;
    p.batch_size = 128;
    p.seed = 1;
    p.adv_eps = 0.1f;
    p.adv_steps = 7;
    p.adv_alpha = 0.5f;
    p.trades_beta = 6.0f;
    p.temperature = 1.0f;
    return p;
}

/* Copies images idx[0..n) of d into x (n, C, H, W), augmenting and adding
 * Gaussian noise if p asks. Example b draws from its own stream, keyed by
 * the step's seed and its global position first + b in the epoch, so it
 * gets the same draws whichever process of a data-parallel run holds it. */
static void gather(const gb_dataset *d, const int64_t *idx, int64_t n, gb_tensor *x, const gb_train_params *p,
                   uint64_t seed, int64_t first) {
    const int64_t C = d->images->shape[1], H = d->images->shape[2], W = d->images->shape[3];
    const int64_t per = C * H * W;
    for (int64_t b = 0; b < n; b++) {
        const float *src = d->images->data + idx[b] * per;
        float *dst = x->data + b * per;
        gb_rng rng;
        if (p->augment || p->noise_sigma > 0) gb_example_rng(&rng, seed, first + b);
        if (!p->augment) {
            memcpy(dst, src, (size_t)per * sizeof(float));
        } else {
            int flip = gb_rng_below(&rng, 2);
            int dy = (int)gb_rng_below(&rng, 5) - 2, dx = (int)gb_rng_below(&rng, 5) - 2;
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < H; i++)
                    for (int64_t j = 0; j < W; j++) {
                        int64_t si = i - dy, sj = j - dx;
                        if (flip) sj = W - 1 - sj;
                        dst[(c * H + i) * W + j] =
                            (si >= 0 && si < H && sj >= 0 && sj < W) ? src[(c * H + si) * W + sj] : 0;
                    }
        }
        for (int64_t k = 0; p->noise_sigma > 0 && k < per; k++) dst[k] += p->noise_sigma * gb_rng_normal(&rng);
    }
}

static int argmax(const float *v, int64_t n) {
    int best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = (int)i;
    return best;
}

gb_status gb_evaluate_range(gb_model *m, const gb_dataset *d, int64_t lo, int64_t hi, int batch_size,
                            int64_t *correct, int *predictions) {
    if (batch_size < 1) return gb_error(GB_ERR_ARG, "batch size must be positive");
    int was_training = m->training;
    gb_model_set_training(m, 0);
    const int64_t per = d->images->size / (d->n ? d->n : 1);
    gb_status s = GB_OK;
    *correct = 0;
    for (int64_t start = lo; start < hi && !s; start += batch_size) {
        int64_t n = GB_MIN((int64_t)batch_size, hi - start);
        gb_tensor x = {0};
        x.ndim = 4;
        x.shape[0] = n;
        for (int k = 1; k < 4; k++) x.shape[k] = d->images->shape[k];
        x.size = n * per;
        x.data = d->images->data + start * per; /* a view: no copy */
        const gb_tensor *logits;
        s = gb_model_forward(m, &x, &logits);
        if (s) break;
        int64_t K = logits->shape[logits->ndim - 1];
        for (int64_t b = 0; b < n; b++) {
            int p = argmax(logits->data + b * K, K);
            if (predictions) predictions[start - lo + b] = p;
            *correct += p == d->labels[start + b];
        }
    }
    gb_model_set_training(m, was_training);
    return s;
}

gb_status gb_evaluate(gb_model *m, const gb_dataset *d, int batch_size, float *accuracy,
                      int *predictions) {
    int64_t correct;
    GB_TRY(gb_evaluate_range(m, d, 0, d->n, batch_size, &correct, predictions));
    if (accuracy) *accuracy = d->n ? (float)correct / (float)d->n : 0;
    return GB_OK;
}

/* Rows [start, start + n) of a (N, K) tensor, as a borrowed view. */
static gb_tensor rows(const gb_tensor *t, int64_t start, int64_t n) {
    gb_tensor v = *t;
    v.shape[0] = n;
    v.size = n * (t->size / t->shape[0]);
    v.data = t->data + start * (t->size / t->shape[0]);
    v.cap = 0;
    return v;
}

static gb_status check_compatible(gb_model *m, const gb_dataset *d, const char *what) {
    if (!d->images || d->images->ndim != 4)
        return gb_error(GB_ERR_SHAPE, "%s set: images must be (N, C, H, W)", what);
    int K = gb_model_num_classes(m);
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] < 0 || d->labels[i] >= K)
            return gb_error(GB_ERR_ARG, "%s set: label %d at index %lld outside the model's %d classes",
                            what, d->labels[i], (long long)i, K);
    return GB_OK;
}

/* The teacher's softened probabilities softmax(z / T) on batch x into soft (n, K). */
static gb_status distill_targets(gb_model *teacher, const gb_tensor *x, float T, gb_tensor *soft) {
    const int was_training = teacher->training;
    gb_model_set_training(teacher, 0);
    const gb_tensor *z;
    gb_status s = gb_model_forward(teacher, x, &z);
    gb_model_set_training(teacher, was_training);
    if (s) return s;
    const int64_t n = soft->shape[0], K = soft->shape[1];
    for (int64_t b = 0; b < n; b++) {
        const float *zb = z->data + b * K;
        float *t = soft->data + b * K;
        double mx = -INFINITY, sum = 0;
        for (int64_t k = 0; k < K; k++) mx = GB_MAX(mx, (double)zb[k] / T);
        for (int64_t k = 0; k < K; k++) sum += exp((double)zb[k] / T - mx);
        for (int64_t k = 0; k < K; k++) t[k] = (float)(exp((double)zb[k] / T - mx) / sum);
    }
    return GB_OK;
}

/* Where this process's slice sits in the step: the whole batch with one
 * process, a contiguous part of it in data-parallel training. */
typedef struct step_slice {
    int64_t n;          /* examples in the global batch */
    int64_t first;      /* global position in the epoch of the slice's first example */
    int64_t epoch_n;    /* examples per epoch */
    uint64_t adv_seed;  /* this step's seed of adversarial random starts */
    gb_exec_dist *dist; /* receives the rows' example ids for Dropout */
    int64_t *rows;      /* room for 2 * batch ids */
} step_slice;

/* Global ids of the next training forward's rows: the slice's examples,
 * then (pair) their adversarial copies, numbered past the epoch's. */
static void set_rows(const step_slice *sl, int64_t nl, int pair) {
    for (int64_t b = 0; b < nl; b++) {
        sl->rows[b] = sl->first + b;
        if (pair) sl->rows[nl + b] = sl->epoch_n + sl->first + b;
    }
    sl->dist->rows = sl->rows;
    sl->dist->nrows = pair ? 2 * nl : nl;
}

/* The slice's mean-loss gradient (nl rows) to its share of the global
 * batch's: times nl / n (nothing to do with one process). */
static void share_grad(gb_tensor *dlogits, int64_t nl, int64_t n) {
    if (nl == n) return;
    const float f = (float)((double)nl / (double)n);
    for (int64_t i = 0; i < dlogits->size; i++) dlogits->data[i] *= f;
}

/* One adversarial-training batch: x_adv from the inner maximization, then
 * the defense's loss and its parameter gradients (accumulated into the
 * zeroed buffers). *loss / *adv_loss: mean CE on the clean / adversarial
 * batch; *correct / *adv_correct count their right predictions. Labels may
 * be smoothed (soft, n rows). n may be 0 (an empty slice): the training
 * forward and backward still run, for BatchNorm's allreduces. */
static gb_status train_adversarial(gb_model *m, const gb_train_params *p, gb_tensor *x, const int *labels,
                                   gb_tensor *soft, int64_t n, int K, gb_tensor *xadv, gb_tensor *xcat,
                                   gb_tensor *dlogits, gb_tensor *dclean, gb_tensor *dadv,
                                   gb_tensor *dkl_p, gb_tensor *dkl_q, gb_adv_work *aw, const step_slice *sl,
                                   float *loss, float *adv_loss, int64_t *correct, int64_t *adv_correct) {
    const int64_t per = x->size / (n ? n : 1);
    GB_TRY(gb_tensor_resize(xadv, 4, x->shape));
    GB_TRY(gb_adv_examples(m, p, x, labels, xadv, aw, sl->adv_seed, sl->first));
    const int *hard = soft ? NULL : labels;
    const gb_tensor *logits;
    if (p->adv == GB_ADV_FAST || p->adv == GB_ADV_PGD) {
        if (n) {
            /* Clean numbers for the progress line, in inference mode; the step is on x_adv alone. */
            gb_model_set_training(m, 0);
            gb_status s = gb_model_forward(m, x, &logits);
            if (!s) s = gb_loss_cross_entropy(logits, labels, NULL, 1.0f, loss, NULL);
            gb_model_set_training(m, 1);
            if (s) return s;
            for (int64_t b = 0; b < n; b++) *correct += argmax(logits->data + b * K, K) == labels[b];
        }
        set_rows(sl, n, 0);
        GB_TRY(gb_model_forward(m, xadv, &logits));
        if (n) {
            GB_TRY(gb_loss_cross_entropy(logits, hard, soft, 1.0f, adv_loss, dlogits));
            for (int64_t b = 0; b < n; b++) *adv_correct += argmax(logits->data + b * K, K) == labels[b];
            share_grad(dlogits, n, sl->n);
        }
        return gb_model_backward(m, dlogits, GB_GRAD_PARAMS, NULL);
    }
    int64_t xs[4] = {2 * n, x->shape[1], x->shape[2], x->shape[3]}, ls[2] = {2 * n, K};
    GB_TRY(gb_tensor_resize(xcat, 4, xs));
    GB_TRY(gb_tensor_resize(dlogits, 2, ls));
    memcpy(xcat->data, x->data, (size_t)(n * per) * sizeof(float));
    memcpy(xcat->data + n * per, xadv->data, (size_t)(n * per) * sizeof(float));
    set_rows(sl, n, 1);
    GB_TRY(gb_model_forward(m, xcat, &logits));
    if (!n) return gb_model_backward(m, dlogits, GB_GRAD_PARAMS, NULL);
    gb_tensor zc = rows(logits, 0, n), za = rows(logits, n, n); // (n, K) each
    GB_TRY(gb_loss_cross_entropy(&zc, hard, soft, 1.0f, loss, dclean));
    GB_TRY(gb_loss_cross_entropy(&za, hard, soft, 1.0f, adv_loss, dadv));
    for (int64_t b = 0; b < n; b++) {
        *correct += argmax(zc.data + b * K, K) == labels[b];
        *adv_correct += argmax(za.data + b * K, K) == labels[b];
    }
    float *dc = dlogits->data, *da = dlogits->data + n * K;
    if (p->adv == GB_ADV_FGSM) {
        const float a = p->adv_alpha;
        for (int64_t i = 0; i < n * K; i++) {
            dc[i] = a * dclean->data[i];
            da[i] = (1 - a) * dadv->data[i];
        }
    } else {
        const float beta = p->trades_beta;
        GB_TRY(gb_loss_kl(&zc, &za, NULL, dkl_p, dkl_q));
        for (int64_t i = 0; i < n * K; i++) {
            dc[i] = dclean->data[i] + beta * dkl_p->data[i];
            da[i] = beta * dkl_q->data[i];
        }
    }
    share_grad(dlogits, n, sl->n);
    return gb_model_backward(m, dlogits, GB_GRAD_PARAMS, NULL);
}

/* Reports progress; *stop: whether the caller asked to stop (on any
 * process, under comm: all stop at the same step). */
static gb_status ask_stop(const gb_train_params *p, const gb_train_progress *pr, int *stop) {
    *stop = p->progress ? p->progress(pr, p->user) != 0 : 0;
    return p->comm ? gb_dp_any(p->comm, *stop, stop) : GB_OK;
}

gb_status gb_train(gb_model *m, const gb_dataset *train, const gb_dataset *test,
                   const gb_train_params *p) {
    if (p->batch_size < 1 || p->epochs < 0 || !(p->lr > 0) || p->label_smoothing < 0 ||
        p->label_smoothing >= 1)
        return gb_error(GB_ERR_ARG, "training: bad batch size, epochs, learning rate or label smoothing");
    if (!(p->noise_sigma >= 0) || !isfinite(p->noise_sigma))
        return gb_error(GB_ERR_ARG, "training: the noise sigma must be a non-negative number");
    if (!(p->temperature > 0) || !isfinite(p->temperature))
        return gb_error(GB_ERR_ARG, "training: temperature must be a positive number");
    if ((p->teacher || p->temperature != 1) && p->adv != GB_ADV_NONE)
        return gb_error(GB_ERR_ARG, "a training temperature is not combined with adversarial training");
    if (p->teacher && p->label_smoothing > 0)
        return gb_error(GB_ERR_ARG, "distillation is not combined with label smoothing");
    if (p->teacher && gb_model_num_classes(p->teacher) != gb_model_num_classes(m))
        return gb_error(GB_ERR_ARG, "distillation: the teacher has %d classes, the student %d",
                        gb_model_num_classes(p->teacher), gb_model_num_classes(m));
    if (p->adv < GB_ADV_NONE || p->adv > GB_ADV_TRADES)
        return gb_error(GB_ERR_ARG, "training: unknown adversarial training kind %d", (int)p->adv);
    if (p->adv != GB_ADV_NONE &&
        (!(p->adv_eps > 0) || p->adv_steps < 0 || p->adv_step_size < 0 || !(p->adv_alpha >= 0) ||
         p->adv_alpha > 1 || !(p->trades_beta >= 0)))
        return gb_error(GB_ERR_ARG, "adversarial training: eps must be positive, steps and step size "
                                    "non-negative, alpha in [0, 1], beta non-negative");
    const gb_train_comm *comm = p->comm;
    if (comm && (comm->size < 1 || comm->rank < 0 || comm->rank >= comm->size || !comm->allreduce_sum))
        return gb_error(GB_ERR_ARG, "data-parallel training: rank %d of %d processes, or no allreduce",
                        comm->rank, comm->size);
    if (train->n == 0) return gb_error(GB_ERR_ARG, "training set is empty");
    GB_TRY(check_compatible(m, train, "training"));
    if (test) GB_TRY(check_compatible(m, test, "test"));
    const int64_t N = train->n, B = p->batch_size;
    const int K = gb_model_num_classes(m);
    gb_optim opt;
    gb_checkpoint_state st = {0};
    gb_rng_seed(&st.rng, p->seed, 3);
    gb_rng_seed(&st.adv_rng, p->seed, 5);
    const int adv = p->adv != GB_ADV_NONE, pair = p->adv == GB_ADV_FGSM || p->adv == GB_ADV_TRADES;
    gb_tensor *xadv = NULL, *xcat = NULL, *dclean = NULL, *dadv = NULL, *dkl_p = NULL, *dkl_q = NULL;
    gb_adv_work aw = {0};
    gb_model_set_seed(m, p->seed);
    int64_t *order = NULL, *rowids = NULL;
    gb_tensor *x = NULL, *dlogits = NULL, *soft = NULL;
    int *labels = NULL;
    float *gbuf = NULL; /* data-parallel: gradients and metrics to sum */
    gb_exec_dist dist = {comm, 0, NULL, 0};
    int64_t resumed = 0; /* 1 + epochs done by the checkpoint resumed from */
    gb_status s = gb_optim_init(&opt, m, p);
    if (!s && p->resume && p->checkpoint) {
        FILE *f = fopen(p->checkpoint, "rb");
        if (f) {
            fclose(f);
            s = gb_checkpoint_load(p->checkpoint, m, &opt, &st);
            if (!s) m->rng = st.model_rng;
            resumed = 1 + st.epochs_done;
        }
    }
    if (comm) { /* every process must start from the same state (the same checkpoint) */
        gb_status s2 = gb_dp_agree(comm, s ? UINT64_MAX : (uint64_t)resumed,
                                   "the checkpoint to resume from (read by every process)");
        if (!s) s = s2;
    }
    if (!s) {
        order = gb_malloc((size_t)N * sizeof *order);
        labels = gb_malloc((size_t)B * sizeof *labels);
        rowids = gb_malloc((size_t)(2 * B) * sizeof *rowids);
        int64_t xs[4] = {B, train->images->shape[1], train->images->shape[2], train->images->shape[3]};
        int64_t ls[2] = {B, K};
        x = gb_tensor_new(4, xs);
        int64_t ls2[2] = {pair ? 2 * B : B, K};
        dlogits = gb_tensor_new(2, ls2);
        const int want_soft = p->label_smoothing > 0 || p->teacher;
        soft = want_soft ? gb_tensor_new(2, ls) : NULL;
        if (comm) gbuf = gb_malloc((size_t)(gb_model_param_count(m) + 4) * sizeof *gbuf);
        if (!order || !labels || !rowids || !x || !dlogits || (want_soft && !soft) || (comm && !gbuf))
            s = GB_ERR_NOMEM;
        if (!s && adv) {
            int64_t xs2[4] = {2 * B, xs[1], xs[2], xs[3]};
            xadv = gb_tensor_new(4, xs);
            xcat = pair ? gb_tensor_new(4, xs2) : NULL;
            dclean = gb_tensor_new(2, ls);
            dadv = gb_tensor_new(2, ls);
            dkl_p = gb_tensor_new(2, ls);
            dkl_q = gb_tensor_new(2, ls);
            aw.dl = gb_tensor_new(2, ls);
            aw.clean = gb_tensor_new(2, ls);
            aw.scratch = gb_malloc((size_t)(2 * (x->size / B) + 1) * sizeof(float));
            if (!xadv || (pair && !xcat) || !dclean || !dadv || !dkl_p || !dkl_q || !aw.dl ||
                !aw.clean || !aw.scratch)
                s = GB_ERR_NOMEM;
        }
    }
    for (int i = 0; i < m->nnodes; i++) m->nodes[i].dist = &dist; /* for BatchNorm and Dropout */
    int stop = 0;
    for (int epoch = st.epochs_done; epoch < p->epochs && !s; epoch++) {
        for (int64_t i = 0; i < N; i++) order[i] = i;
        for (int64_t i = N - 1; i > 0; i--) { /* Fisher-Yates */
            int64_t j = gb_rng_below(&st.rng, (uint32_t)(i + 1));
            int64_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        gb_model_set_training(m, 1);
        double t0 = gb_now(), loss_sum = 0, adv_loss_sum = 0;
        int64_t correct = 0, adv_correct = 0, seen = 0;
        float lr = p->lr;
        for (int64_t start = 0; start < N && !s; start += B) {
            int64_t n = GB_MIN(B, N - start), lo, hi;
            gb_dp_slice(comm, n, &lo, &hi);
            const int64_t nl = hi - lo; /* this process's examples: [start + lo, start + hi) */
            step_slice sl = {n, start + lo, N, 0, &dist, rowids};
            /* Every process draws the step's seeds, whether or not it has examples. */
            uint64_t data_seed = p->augment || p->noise_sigma > 0 ? gb_rng_u64(&st.rng) : 0;
            if (adv) sl.adv_seed = gb_rng_u64(&st.adv_rng);
            int64_t xs[4] = {nl, x->shape[1], x->shape[2], x->shape[3]};
            int64_t ls[2] = {nl, K};
            gb_tensor_resize(x, 4, xs); /* shrinking never allocates */
            gb_tensor_resize(dlogits, 2, ls);
            gather(train, order + start + lo, nl, x, p, data_seed, start + lo);
            for (int64_t b = 0; b < nl; b++) labels[b] = train->labels[order[start + lo + b]];
            if (p->teacher) {
                gb_tensor_resize(soft, 2, ls);
                if (nl) s = distill_targets(p->teacher, x, p->temperature, soft);
                if (s) break;
            } else if (soft) {
                gb_tensor_resize(soft, 2, ls);
                float off = p->label_smoothing / K;
                for (int64_t b = 0; b < nl; b++)
                    for (int k = 0; k < K; k++)
                        soft->data[b * K + k] = off + (k == labels[b] ? 1 - p->label_smoothing : 0);
            }
            const gb_tensor *logits;
            float loss = 0, adv_loss = 0;
            int64_t step_correct = 0, step_adv_correct = 0;
            gb_model_zero_grad(m);
            if (!adv) {
                set_rows(&sl, nl, 0);
                s = gb_model_forward(m, x, &logits);
                if (!s && nl)
                    s = gb_loss_cross_entropy(logits, soft ? NULL : labels, soft, p->temperature, &loss, dlogits);
                if (s) break;
                for (int64_t b = 0; b < nl; b++) step_correct += argmax(logits->data + b * K, K) == labels[b];
                share_grad(dlogits, nl, n);
                s = gb_model_backward(m, dlogits, GB_GRAD_PARAMS, NULL);
            } else {
                s = train_adversarial(m, p, x, labels, soft, nl, K, xadv, xcat, dlogits, dclean, dadv,
                                      dkl_p, dkl_q, &aw, &sl, &loss, &adv_loss, &step_correct,
                                      &step_adv_correct);
            }
            if (!s && dist.failed)
                s = gb_error(GB_ERR_IO, "data-parallel training: a BatchNorm allreduce failed on rank %d",
                             comm->rank);
            if (s) break;
            /* The step's loss sums and counts over the global batch. */
            double step_loss = (double)loss * n, step_adv_loss = (double)adv_loss * n;
            if (comm) {
                float met[4] = {loss * (float)nl, adv_loss * (float)nl, (float)step_correct,
                                (float)step_adv_correct};
                s = gb_dp_allreduce_grads(m, comm, gbuf, met, 4);
                if (s) break;
                step_loss = met[0];
                step_adv_loss = met[1];
                step_correct = (int64_t)met[2];
                step_adv_correct = (int64_t)met[3];
                loss = (float)(step_loss / n);
                adv_loss = (float)(step_adv_loss / n);
            }
            if (!isfinite(loss) || !isfinite(adv_loss)) {
                s = gb_error(GB_ERR_ARG, "training diverged at epoch %d (loss is %f): lower the learning rate",
                             epoch + 1, isfinite(loss) ? adv_loss : loss);
                break;
            }
            loss_sum += step_loss;
            adv_loss_sum += step_adv_loss;
            correct += step_correct;
            adv_correct += step_adv_correct;
            lr = gb_schedule_lr(p, epoch, (double)start / N);
            gb_optim_step(&opt, m, lr);
            seen += n;
            if (p->progress || comm) {
                double el = gb_now() - t0;
                gb_train_progress pr = {.epoch = epoch + 1, .epochs = p->epochs, .seen = seen, .total = N,
                                        .loss = (float)(loss_sum / seen), .accuracy = (float)correct / seen,
                                        .images_per_sec = seen / (el > 0 ? el : 1e-9), .elapsed = el,
                                        .eta = el / seen * (N - seen), .test_accuracy = -1, .lr = lr,
                                        .adv_loss = adv ? (float)(adv_loss_sum / seen) : -1,
                                        .adv_accuracy = adv ? (float)adv_correct / seen : -1,
                                        .step = opt.t, .batch_loss = loss,
                                        .batch_accuracy = (float)step_correct / n,
                                        .batch_adv_loss = adv ? adv_loss : -1,
                                        .batch_adv_accuracy = adv ? (float)step_adv_correct / n : -1};
                s = ask_stop(p, &pr, &stop);
            }
            if (s || stop) break;
        }
        if (s || stop) break;
        gb_model_set_training(m, 0);
        float test_acc = -1;
        if (test) s = comm ? gb_dp_evaluate(m, test, comm, &test_acc) : gb_evaluate(m, test, 256, &test_acc, NULL);
        /* Identical steps keep identical models; check before saving. */
        if (!s && comm) s = gb_dp_agree(comm, gb_dp_model_hash(m), "the model after an epoch");
        if (s) break;
        st.epochs_done = epoch + 1;
        st.model_rng = m->rng;
        if (p->checkpoint && (!comm || comm->rank == 0)) s = gb_checkpoint_save(p->checkpoint, m, &opt, &st);
        if (!s && (p->progress || comm)) {
            double el = gb_now() - t0;
            gb_train_progress pr = {.epoch = epoch + 1, .epochs = p->epochs, .seen = N, .total = N,
                                    .loss = (float)(loss_sum / N), .accuracy = (float)correct / N,
                                    .images_per_sec = N / (el > 0 ? el : 1e-9), .elapsed = el,
                                    .epoch_done = 1, .test_accuracy = test_acc, .lr = lr,
                                    .adv_loss = adv ? (float)(adv_loss_sum / N) : -1,
                                    .adv_accuracy = adv ? (float)adv_correct / N : -1};
            s = ask_stop(p, &pr, &stop);
            if (stop) break;
        }
    }
    for (int i = 0; i < m->nnodes; i++) m->nodes[i].dist = NULL;
    gb_model_set_training(m, 0);
    gb_optim_free(&opt);
    gb_free(order);
    gb_free(rowids);
    gb_free(gbuf);
    gb_free(labels);
    gb_tensor_free(x);
    gb_tensor_free(dlogits);
    gb_tensor_free(soft);
    gb_tensor_free(xadv);
    gb_tensor_free(xcat);
    gb_tensor_free(dclean);
    gb_tensor_free(dadv);
    gb_tensor_free(dkl_p);
    gb_tensor_free(dkl_q);
    gb_tensor_free(aw.dl);
    gb_tensor_free(aw.clean);
    gb_free(aw.scratch);
    return s;
}
